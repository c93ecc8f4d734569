// The delegate's bytes against a real Go memberlist 0.2.2 node: user messages both ways (one packet,
// a stream, and piggybacked on gossip) and push/pull user state both ways, so applications built on the
// engine can talk to Go peers. Plain and encrypted.
import { afterEach, describe, expect, test } from "bun:test";
import { type Delegate, Memberlist } from "../../src/cluster/index.ts";
import { quietLogger, waitFor } from "../cluster/helpers.ts";
import { buildGoPeer, type GoEvent, GoNode } from "./gonode.ts";

const go = await buildGoPeer();
const KEY = new Uint8Array(32).map((_, i) => (i * 7 + 3) & 0xff);
const SECRET = `base64:${Buffer.from(KEY).toString("base64")}`;
const GO_TIMING = { probeInterval: "300ms", probeTimeout: "150ms", gossipInterval: "100ms", pushPullInterval: "2s" };
const BUN_TIMING = { probeIntervalMs: 300, probeTimeoutMs: 150, gossipIntervalMs: 100, pushPullIntervalMs: 2000, tcpTimeoutMs: 2000, joinRetryMaxMs: 1000 };

const enc = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

const goNodes: GoNode[] = [];
const bunNodes: Memberlist[] = [];
afterEach(async () => {
  for (const g of goNodes.splice(0)) g.kill();
  await Promise.all(bunNodes.splice(0).map((b) => b.shutdown()));
});

/** A delegate that records what it receives and hands out what the test queues. */
class Recorder implements Delegate {
  readonly msgs: string[] = [];
  readonly states: { data: string; join: boolean }[] = [];
  queued: Uint8Array[] = [];
  state = new Uint8Array(0);
  nodeMeta(): Uint8Array {
    return new Uint8Array(0);
  }
  notifyMsg(msg: Uint8Array): void {
    this.msgs.push(text(msg));
  }
  getBroadcasts(overhead: number, limit: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    while (this.queued.length > 0 && this.queued[0]!.length + overhead <= limit) {
      limit -= this.queued[0]!.length + overhead;
      out.push(this.queued.shift()!);
    }
    return out;
  }
  localState(): Uint8Array {
    return this.state;
  }
  mergeRemoteState(state: Uint8Array, join: boolean): void {
    this.states.push({ data: text(state), join });
  }
}

const isMsg = (data: string) => (e: GoEvent) => e.event === "msg" && e.data === data;

describe.skipIf(!go.ok).each([
  ["plaintext", false],
  ["encrypted", true],
] as const)("delegate bytes, Bun ⇄ Go memberlist 0.2.2 (%s)", (_label, encrypted) => {
  const binary = go.ok ? go.binary : "";

  async function pair(d: Recorder, goState = ""): Promise<{ g: GoNode; b: Memberlist }> {
    const g = await GoNode.start(binary, { name: "go-1", key: encrypted ? KEY : undefined, ...GO_TIMING });
    goNodes.push(g);
    if (goState) await g.setState(goState);
    const b = await Memberlist.create({
      name: "bun-1",
      bindAddress: "127.0.0.1",
      bindPort: 0,
      peers: [],
      delegate: d,
      secrets: encrypted ? { primary: SECRET } : undefined,
      logger: quietLogger(),
      ...BUN_TIMING,
    });
    bunNodes.push(b);
    await b.join([`127.0.0.1:${g.port}`]);
    await g.waitFor((e) => e.event === "join" && "name" in e && e.name === "bun-1");
    return { g, b };
  }

  test("push/pull user state travels both ways, flagged as a join on join", async () => {
    const d = new Recorder();
    d.state = enc("bun-state");
    const { g } = await pair(d, "go-state");
    expect(d.states[0]).toEqual({ data: "go-state", join: true });
    const ev = await g.waitFor((e) => e.event === "state");
    expect(ev).toMatchObject({ data: "bun-state", join: true });
    // and again with every periodic push/pull, which is no join
    await g.next((e) => e.event === "state" && !e.join, 10_000);
  });

  test("user messages by packet and by stream, both ways", async () => {
    const d = new Recorder();
    const { g, b } = await pair(d);
    const goAt = { address: "127.0.0.1", port: g.port };
    expect(b.sendBestEffort(goAt, enc("bun-best"))).toBe(true);
    await g.waitFor(isMsg("bun-best"));
    await b.sendReliable(goAt, enc("bun-reliable"));
    await g.waitFor(isMsg("bun-reliable"));
    await g.sendUser("bun-1", "best", "go-best");
    await g.sendUser("bun-1", "reliable", "go-reliable");
    await waitFor("bun got both", () => d.msgs.includes("go-best") && d.msgs.includes("go-reliable"));
    expect(b.metrics().dropped).toEqual({});
  });

  test("user broadcasts ride on gossip both ways", async () => {
    const d = new Recorder();
    const { g, b } = await pair(d);
    d.queued.push(enc("bun-gossip"));
    await g.waitFor(isMsg("bun-gossip"));
    await g.broadcast("go-gossip");
    await waitFor("bun got go's broadcast", () => d.msgs.includes("go-gossip"));
    expect(b.metrics().messagesIn.user ?? 0).toBeGreaterThan(0);
    expect(b.metrics().dropped).toEqual({});
  });
});
