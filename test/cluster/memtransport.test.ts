// Many engines in one process on the in-memory network (test/helpers/memtransport.ts): no sockets, so
// cluster sizes that would need hundreds of ports run anywhere. Also the delegate between two engines:
// user messages and push/pull state.
import { afterEach, describe, expect, test } from "bun:test";
import { type Delegate, Memberlist, type MemberlistInit } from "../../src/cluster/index.ts";
import { FaultyTransport, Faults } from "../helpers/faults.ts";
import { MemoryNetwork } from "../helpers/memtransport.ts";
import { FAST, quietLogger, TestEvents, waitFor } from "./helpers.ts";

const live: Memberlist[] = [];
afterEach(async () => {
  await Promise.all(live.splice(0).map((m) => m.shutdown()));
});

async function engine(net: MemoryNetwork, name: string, address: string, extra: Partial<MemberlistInit> = {}): Promise<Memberlist> {
  const m = await Memberlist.create({ name, peers: [], logger: quietLogger(), ...FAST, ...extra, transport: extra.transport ?? net.transport(address, 7946) });
  live.push(m);
  return m;
}

const aliveEverywhere = (nodes: Memberlist[], n: number) => nodes.every((m) => m.aliveMembers().length === n);

describe("in-memory network", () => {
  test("100 engines in one process converge, and a vanished one is declared dead by all", async () => {
    const net = new MemoryNetwork();
    const nodes: Memberlist[] = [];
    for (let i = 0; i < 100; i++) nodes.push(await engine(net, `n${i}`, `10.0.0.${i + 1}`, { peers: i === 0 ? [] : ["10.0.0.1:7946"] }));
    const ms = await waitFor("100 engines converge", () => aliveEverywhere(nodes, 100), 15_000);
    const victim = nodes.pop()!;
    await victim.shutdown();
    await waitFor("everyone marks n99 dead", () => nodes.every((m) => m.members().find((x) => x.name === "n99")?.state === "dead"), 20_000);
    expect(nodes.every((m) => m.metrics().dropped.decrypt === undefined)).toBe(true);
    console.log(`100 in-memory engines converged in ${Math.round(ms)} ms over ${net.packets} packets`);
  }, 40_000);

  test("a partition by FaultyTransport splits the cluster; healing joins it again", async () => {
    const net = new MemoryNetwork();
    const faults = new Faults();
    const nodes: Memberlist[] = [];
    for (let i = 0; i < 4; i++) {
      const transport = new FaultyTransport(net.transport(`10.0.1.${i + 1}`, 7946), faults);
      nodes.push(await engine(net, `p${i}`, "", { transport, peers: i === 0 ? [] : ["10.0.1.1:7946"] }));
    }
    await waitFor("4 converge", () => aliveEverywhere(nodes, 4));
    faults.set({ partition: [["10.0.1.1", "10.0.1.2"], ["10.0.1.3", "10.0.1.4"]] });
    await waitFor("two halves", () => aliveEverywhere(nodes, 2), 15_000);
    faults.set(null);
    await waitFor("one cluster again", () => aliveEverywhere(nodes, 4), 3 * FAST.pushPullIntervalMs + 2000);
  }, 30_000);
});

/** Records the application's bytes. */
class Recorder implements Partial<Delegate> {
  readonly msgs: string[] = [];
  readonly states: string[] = [];
  queued: Uint8Array[] = [];
  constructor(private readonly state: string) {}
  notifyMsg(m: Uint8Array): void {
    this.msgs.push(new TextDecoder().decode(m));
  }
  getBroadcasts(overhead: number, limit: number): Uint8Array[] {
    const out = this.queued.filter((q) => q.length + overhead <= limit).slice(0, 1);
    this.queued = this.queued.filter((q) => !out.includes(q));
    return out;
  }
  localState(): Uint8Array {
    return new TextEncoder().encode(this.state);
  }
  mergeRemoteState(s: Uint8Array, join: boolean): void {
    this.states.push(`${new TextDecoder().decode(s)}${join ? " (join)" : ""}`);
  }
}

describe("delegate between engines", () => {
  test("user messages (packet, stream, gossip), push/pull state and member events", async () => {
    const net = new MemoryNetwork();
    const [da, db] = [new Recorder("state-a"), new Recorder("state-b")];
    const events = new TestEvents();
    const joined: string[] = [];
    events.on("join", (m) => joined.push(m.name));
    const a = await engine(net, "a", "10.0.2.1", { delegate: da, events });
    const b = await engine(net, "b", "10.0.2.2", { delegate: db });
    await b.join(["10.0.2.1:7946"]);
    expect(db.states).toEqual(["state-a (join)"]);
    await waitFor("a merged b's state", () => da.states.includes("state-b (join)"));
    expect(joined).toEqual(["a", "b"]);
    const at = { address: "10.0.2.2", port: 7946 };
    a.sendBestEffort(at, new TextEncoder().encode("one"));
    await a.sendReliable(at, new TextEncoder().encode("two"));
    da.queued.push(new TextEncoder().encode("three"));
    await waitFor("b got all three", () => ["one", "two", "three"].every((x) => db.msgs.includes(x)));
    expect(b.metrics().messagesIn.user).toBe(3);
  });
});
