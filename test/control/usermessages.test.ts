import { describe, expect, test } from "bun:test";
import { type UserChannel, UserMessages } from "../../src/control/usermessages.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

class Channel implements UserChannel {
  got: string[] = [];
  states: string[] = [];
  constructor(
    readonly type: number,
    private readonly out: string[],
    private readonly st = "",
  ) {}
  broadcasts(room: number): Uint8Array[] {
    const m = new Uint8Array([this.type, ...enc(this.out.join(","))]);
    return this.out.length > 0 && m.length <= room ? [m] : [];
  }
  receive(body: Uint8Array): void {
    this.got.push(text(body));
  }
  state(): Uint8Array {
    return enc(this.st);
  }
  mergeState(body: Uint8Array): void {
    this.states.push(text(body));
  }
}

describe("user messages by type byte", () => {
  test("messages reach their channel; an unknown type (a Go app's bytes) is counted and ignored", () => {
    const a = new Channel(1, []);
    const b = new Channel(2, []);
    const mux = new UserMessages();
    mux.add(a);
    mux.add(b);
    expect(() => mux.add(new Channel(1, []))).toThrow();
    mux.notifyMsg(new Uint8Array([1, ...enc("x")]));
    mux.notifyMsg(new Uint8Array([2, ...enc("y")]));
    mux.notifyMsg(enc("go-gossip"));
    mux.notifyMsg(new Uint8Array(0));
    expect([a.got, b.got, mux.ignored]).toEqual([["x"], ["y"], 2]);
  });

  test("broadcasts share the room, each part costing the overhead", () => {
    const mux = new UserMessages();
    mux.add(new Channel(1, ["aaaa"]));
    mux.add(new Channel(2, ["bbbb"]));
    expect(mux.getBroadcasts(2, 100).map(text)).toEqual(["\x01aaaa", "\x02bbbb"]);
    expect(mux.getBroadcasts(2, 10).map(text)).toEqual(["\x01aaaa"]);
  });

  test("state sections round trip; a foreign or cut state is ignored and counted", () => {
    const a = new Channel(1, [], "state-a");
    const b = new Channel(2, [], "");
    const mux = new UserMessages();
    mux.add(a);
    mux.add(b);
    const s = mux.localState();
    const other = new UserMessages();
    const a2 = new Channel(1, []);
    other.add(a2);
    other.mergeRemoteState(s);
    expect(a2.states).toEqual(["state-a"]);
    other.mergeRemoteState(enc("go-state"));
    other.mergeRemoteState(s.subarray(0, s.length - 1));
    expect(other.ignored).toBe(2);
    expect(a2.states).toEqual(["state-a"]);
  });
});
