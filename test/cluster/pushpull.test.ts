import { afterEach, describe, expect, test } from "bun:test";
import { Memberlist } from "../../src/cluster/memberlist.ts";
import { type Message, NodeStateCode, OUR_VSN, type PushNodeState, type Vsn } from "../../src/cluster/messages.ts";
import { pushPullScaleMs } from "../../src/cluster/pushpull.ts";
import { encodeStreamMessage, StreamDecoder } from "../../src/cluster/stream.ts";
import { FAST, quietLogger, waitFor } from "./helpers.ts";

const live: Memberlist[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((m) => m.shutdown()));
});

async function member(name: string): Promise<Memberlist> {
  const m = await Memberlist.create({ ...FAST, name, bindAddress: "127.0.0.1", bindPort: 0, peers: [], logger: quietLogger() });
  live.push(m);
  return m;
}

/** One raw push/pull over TCP; resolves with the reply. */
function pushPull(port: number, states: PushNodeState[]): Promise<Message> {
  const dec = new StreamDecoder();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no reply")), 3000);
    void Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.write(encodeStreamMessage({ type: "pushPull", body: { join: true, states, userState: new Uint8Array(0) } }));
        },
        data(s, chunk) {
          const m = dec.push(new Uint8Array(chunk));
          if (m) {
            clearTimeout(timer);
            s.end();
            resolve(m);
          }
        },
        error(_s, err) {
          reject(err);
        },
      },
    });
  });
}

const state = (name: string, port: number, vsn: Vsn = OUR_VSN, st: number = NodeStateCode.alive): PushNodeState => ({
  name,
  addr: Uint8Array.from([127, 0, 0, 1]),
  port,
  meta: new Uint8Array(),
  incarnation: 1,
  state: st,
  vsn,
});

describe("push/pull", () => {
  test("period scales above 32 nodes: × (ceil(log2 N − 5) + 1)", () => {
    expect(pushPullScaleMs(30_000, 1)).toBe(30_000);
    expect(pushPullScaleMs(30_000, 32)).toBe(30_000);
    expect(pushPullScaleMs(30_000, 33)).toBe(60_000);
    expect(pushPullScaleMs(30_000, 64)).toBe(60_000);
    expect(pushPullScaleMs(30_000, 65)).toBe(90_000);
    expect(pushPullScaleMs(30_000, 1000)).toBe(30_000 * (Math.ceil(Math.log2(1000) - 5) + 1));
  });

  test("the listener replies with its full table and merges ours (port 0 means its own port)", async () => {
    const m = await member("m");
    const reply = await pushPull(m.port, [state("x", 0), state("y", 40000, OUR_VSN, NodeStateCode.dead)]);
    expect(reply.type).toBe("pushPull");
    if (reply.type !== "pushPull") return;
    expect(reply.body.states.map((s) => [s.name, s.port])).toEqual([["m", m.port]]);
    await waitFor("x merged", () => m.members().some((n) => n.name === "x"));
    expect(m.members().find((n) => n.name === "x")?.port).toBe(m.port);
    // a dead entry about an unknown node is not news: nothing to suspect
    expect(m.members().some((n) => n.name === "y")).toBe(false);
  });

  test("a table with an incompatible protocol version is refused and counted", async () => {
    const m = await member("m");
    const reply = await pushPull(m.port, [state("old", 40001, [1, 5, 2, 0, 0, 0]), state("odd", 40002, [1, 1, 1, 2, 3, 2])]);
    expect(reply.type).toBe("pushPull");
    await waitFor("drop counted", () => (m.metrics().dropped.incompatible ?? 0) === 1);
    expect(m.members().map((n) => n.name)).toEqual(["m"]);
  });

  test("a plaintext stream to an encrypted node gets an error reply and changes nothing", async () => {
    const m = await Memberlist.create({ ...FAST, name: "sealed", bindAddress: "127.0.0.1", bindPort: 0, peers: [], secrets: { primary: "k" }, logger: quietLogger() });
    live.push(m);
    const err = await pushPull(m.port, [state("x", 40003)]).catch((e: unknown) => e);
    // the reply is encrypted, so a plaintext decoder cannot read it: either way, no table came back
    expect(err).toBeInstanceOf(Error);
    expect(m.metrics().dropped.plaintext).toBe(1);
    expect(m.members().map((n) => n.name)).toEqual(["sealed"]);
  });
});
