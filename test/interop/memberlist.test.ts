// The gossip engine against real Go memberlist 0.2.2 nodes (test/interop/gonode.ts), with and without
// encryption: join both ways, meta both ways, failure detection both ways, graceful leave both ways,
// and push/pull convergence in a mixed 3 Go + 2 Bun cluster.
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Memberlist, type MemberlistInit } from "../../src/cluster/memberlist.ts";
import { suspicionTimeoutMs } from "../../src/cluster/suspicion.ts";
import { quietLogger, TestMeta, waitFor } from "../cluster/helpers.ts";
import { requirePrerequisite } from "../helpers/prereq.ts";
import { buildGoPeer, GO_INSTALL, type GoEvent, GoNode } from "./gonode.ts";

// Waits here are bounded by gossip timings (detection up to ~16 s), above Bun's 5 s default (bunfig's is ignored).
setDefaultTimeout(30_000);
const go = await buildGoPeer();
const noGo = requirePrerequisite("Go memberlist interop", go.ok ? undefined : go.missing, GO_INSTALL);
const KEY = new Uint8Array(32).map((_, i) => (i * 13 + 5) & 0xff);
const SECRET = `base64:${Buffer.from(KEY).toString("base64")}`;

// the same timings on both sides
const PROBE_MS = 300;
const GO_TIMING = { probeInterval: `${PROBE_MS}ms`, probeTimeout: "150ms", gossipInterval: "100ms", suspicionMult: 4, pushPullInterval: "3s" };
const BUN_TIMING = {
  probeIntervalMs: PROBE_MS,
  probeTimeoutMs: 150,
  gossipIntervalMs: 100,
  suspicionMult: 4,
  pushPullIntervalMs: 3000,
  gossipToTheDeadMs: 30_000,
  tcpTimeoutMs: 2000,
  joinRetryMaxMs: 1000,
};

/** Detection bound for a 2-node cluster: a few probe rounds at worst awareness, then max suspicion. */
function detectionBoundMs(n: number): number {
  const min = suspicionTimeoutMs(4, n, PROBE_MS);
  return 3 * PROBE_MS * 8 + 6 * min + 2000;
}

const goNodes: GoNode[] = [];
const bunNodes: Memberlist[] = [];
const metas = new Map<Memberlist, TestMeta>();
afterEach(async () => {
  for (const g of goNodes.splice(0)) g.kill();
  await Promise.all(bunNodes.splice(0).map((b) => b.shutdown()));
});

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const enc = (s: string) => new TextEncoder().encode(s);
const isEvent =
  (event: "join" | "leave" | "update", name: string, meta?: string) =>
  (e: GoEvent): boolean =>
    e.event === event && "name" in e && e.name === name && (meta === undefined || ("meta" in e && e.meta === meta));

describe.skipIf(noGo).each([
  ["plaintext", false],
  ["encrypted", true],
] as const)("Bun ⇄ Go memberlist 0.2.2 (%s)", (_label, encrypted) => {
  const binary = go.ok ? go.binary : "";

  async function goNode(name: string, join: string[] = [], meta = `meta-${name}`): Promise<GoNode> {
    const g = await GoNode.start(binary, { name, meta, join, key: encrypted ? KEY : undefined, ...GO_TIMING });
    goNodes.push(g);
    return g;
  }

  async function bunNode(name: string, extra: Partial<MemberlistInit> = {}): Promise<Memberlist> {
    const meta = new TestMeta(enc(`meta-${name}`));
    const m = await Memberlist.create({
      name,
      bindAddress: "127.0.0.1",
      bindPort: 0,
      peers: [],
      delegate: meta,
      secrets: encrypted ? { primary: SECRET } : undefined,
      logger: quietLogger(),
      ...BUN_TIMING,
      ...extra,
    });
    bunNodes.push(m);
    metas.set(m, meta);
    return m;
  }

  const bunSees = (m: Memberlist, name: string) => m.members().find((x) => x.name === name);

  test("Bun joins Go: both see each other alive, with each other's meta", async () => {
    const g = await goNode("go-1");
    const b = await bunNode("bun-1");
    expect(await b.join([`127.0.0.1:${g.port}`])).toBe(1);
    await waitFor("bun sees go alive", () => bunSees(b, "go-1")?.state === "alive");
    expect(text(bunSees(b, "go-1")!.meta)).toBe("meta-go-1");
    expect(bunSees(b, "go-1")!.port).toBe(g.port);
    const ev = await g.waitFor(isEvent("join", "bun-1"));
    expect(ev).toMatchObject({ meta: "meta-bun-1", port: b.port, addr: "127.0.0.1", vsn: [1, 5, 2, 0, 0, 0] });
    const seen = await g.waitMembers((ms) => ms.some((m) => m.name === "bun-1"));
    expect(seen.map((m) => m.name).sort()).toEqual(["bun-1", "go-1"]);
    // and it stays that way through several probe rounds (pings and acks work both ways)
    await Bun.sleep(PROBE_MS * 5);
    expect(bunSees(b, "go-1")?.state).toBe("alive");
    expect((await g.members()).find((m) => m.name === "bun-1")?.state).toBe("alive");
    expect(b.metrics().dropped).toEqual({});
    expect(b.metrics().messagesIn.ackResp ?? 0).toBeGreaterThan(0);
  });

  test("Go joins Bun: both see each other alive, with each other's meta", async () => {
    const b = await bunNode("bun-1");
    const g = await goNode("go-1", [`127.0.0.1:${b.port}`]);
    const joined = await g.waitFor((e) => e.event === "joined");
    expect(joined).toMatchObject({ contacted: 1, error: null });
    await waitFor("bun sees go alive", () => bunSees(b, "go-1")?.state === "alive");
    expect(text(bunSees(b, "go-1")!.meta)).toBe("meta-go-1");
    await g.waitFor(isEvent("join", "bun-1", "meta-bun-1"));
    await Bun.sleep(PROBE_MS * 5);
    expect(bunSees(b, "go-1")?.state).toBe("alive");
    expect(b.metrics().dropped).toEqual({});
  });

  test("meta updates travel both ways", async () => {
    const g = await goNode("go-1");
    const b = await bunNode("bun-1", { peers: [`127.0.0.1:${g.port}`] });
    await waitFor("joined", () => bunSees(b, "go-1")?.state === "alive");
    await g.waitFor(isEvent("join", "bun-1"));
    metas.get(b)!.meta = enc("bun-v2");
    b.updateNode();
    await g.waitFor(isEvent("update", "bun-1", "bun-v2"));
    await g.setMeta("go-v2");
    await waitFor("bun sees go-v2", () => text(bunSees(b, "go-1")!.meta) === "go-v2");
  });

  test("SIGKILL of the Go node is detected as dead by Bun", async () => {
    const g = await goNode("go-1");
    let resolveDead: (at: number) => void = () => {};
    const dead = new Promise<number>((resolve) => (resolveDead = resolve));
    const b = await bunNode("bun-1", { peers: [`127.0.0.1:${g.port}`], events: { notifyLeave: (m) => m.name === "go-1" && m.state === "dead" && resolveDead(performance.now()) } });
    await waitFor("joined", () => bunSees(b, "go-1")?.state === "alive");
    const killedAt = performance.now();
    g.kill();
    await waitFor("bun marks go dead", () => bunSees(b, "go-1")?.state === "dead", detectionBoundMs(2));
    const took = (await dead) - killedAt;
    // a 2-node cluster has k=0: the timer runs for exactly min after the suspicion
    expect(took).toBeGreaterThanOrEqual(suspicionTimeoutMs(4, 2, PROBE_MS) - 50);
    expect(b.aliveMembers().map((m) => m.name)).toEqual(["bun-1"]);
  });

  test("a killed Bun node is detected as failed by Go", async () => {
    const g = await goNode("go-1");
    const b = await bunNode("bun-1", { peers: [`127.0.0.1:${g.port}`] });
    await g.waitFor(isEvent("join", "bun-1"));
    const killedAt = performance.now();
    await b.shutdown(); // no leave: as good as a crash for the others
    await g.next(isEvent("leave", "bun-1"), detectionBoundMs(2));
    const took = performance.now() - killedAt;
    // Go only reports it after its suspicion timeout: this was detection, not a leave message
    expect(took).toBeGreaterThanOrEqual(suspicionTimeoutMs(4, 2, PROBE_MS) - 50);
    expect((await g.members()).map((m) => m.name)).toEqual(["go-1"]);
  });

  test("graceful leave of the Go node shows as left in Bun", async () => {
    const g = await goNode("go-1");
    const b = await bunNode("bun-1", { peers: [`127.0.0.1:${g.port}`] });
    await waitFor("joined", () => bunSees(b, "go-1")?.state === "alive");
    await g.waitFor(isEvent("join", "bun-1"));
    await g.leave();
    await waitFor("bun shows go left", () => bunSees(b, "go-1")?.state === "left");
  });

  test("graceful leave of the Bun node shows as left in Go", async () => {
    const g = await goNode("go-1");
    const b = await bunNode("bun-1", { peers: [`127.0.0.1:${g.port}`] });
    await g.waitFor(isEvent("join", "bun-1"));
    const t0 = performance.now();
    await b.leave(3000);
    await g.waitFor(isEvent("leave", "bun-1"), 3000);
    // far quicker than failure detection could be
    expect(performance.now() - t0).toBeLessThan(suspicionTimeoutMs(4, 2, PROBE_MS));
    await b.shutdown();
    // Go's API hides the dead/left distinction, but its rules do not: only a *left* node may come
    // back under the same name from another port. A dead one would be rejected as a conflict.
    const again = await bunNode("bun-1", { peers: [`127.0.0.1:${g.port}`] });
    expect(again.port).not.toBe(b.port);
    await g.waitMembers((ms) => ms.some((m) => m.name === "bun-1" && m.port === again.port));
  });

  test("push/pull: 3 Go + 2 Bun nodes converge", async () => {
    const g1 = await goNode("go-1");
    const b1 = await bunNode("bun-1", { peers: [`127.0.0.1:${g1.port}`] });
    const g2 = await goNode("go-2", [`127.0.0.1:${b1.port}`]);
    const b2 = await bunNode("bun-2", { peers: [`127.0.0.1:${g2.port}`] });
    const g3 = await goNode("go-3", [`127.0.0.1:${b2.port}`]);
    const all = ["bun-1", "bun-2", "go-1", "go-2", "go-3"];
    for (const b of [b1, b2]) {
      await waitFor(`${b.localName} sees all 5`, () => b.aliveMembers().map((m) => m.name).sort().join() === all.join(), 10_000);
    }
    for (const g of [g1, g2, g3]) {
      const ms = await g.waitMembers((list) => list.map((m) => m.name).sort().join() === all.join(), 10_000);
      for (const m of ms) expect(m.meta).toBe(`meta-${m.name}`);
    }
    expect(b1.metrics().dropped).toEqual({});
    expect(b2.metrics().dropped).toEqual({});
  });
});
