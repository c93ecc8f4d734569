// In-process clusters on loopback: several Memberlist instances in this process, each on 127.0.0.1:0.
import { afterEach, describe, expect, test } from "bun:test";
import { encodeMessage, encodePacket } from "../../src/cluster/codec.ts";
import { Memberlist, type Member, type MemberlistInit } from "../../src/cluster/memberlist.ts";
import { suspicionTimeoutMs } from "../../src/cluster/suspicion.ts";
import { FAST, quietLogger, TestEvents, TestMeta, waitFor } from "./helpers.ts";

const live: Memberlist[] = [];
const delegates = new Map<Memberlist, { meta: TestMeta; events: TestEvents }>();
const events = (m: Memberlist) => delegates.get(m)!.events;
afterEach(async () => {
  await Promise.all(live.splice(0).map((m) => m.shutdown()));
});

const meta = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function node(name: string, extra: Partial<MemberlistInit> = {}): Promise<Memberlist> {
  const d = { meta: new TestMeta(meta(`meta-${name}`)), events: new TestEvents() };
  const m = await Memberlist.create({ name, bindAddress: "127.0.0.1", bindPort: 0, peers: [], delegate: d.meta, events: d.events, logger: quietLogger(), ...FAST, ...extra });
  live.push(m);
  delegates.set(m, d);
  return m;
}

async function cluster(n: number, extra: Partial<MemberlistInit> = {}): Promise<Memberlist[]> {
  const first = await node("n0", extra);
  const rest = [];
  for (let i = 1; i < n; i++) rest.push(await node(`n${i}`, { peers: [`127.0.0.1:${first.port}`], ...extra }));
  const all = [first, ...rest];
  await waitFor(`${n} nodes converge`, () => all.every((m) => m.aliveMembers().length === n));
  return all;
}

const view = (m: Memberlist, name: string): Member | undefined => m.members().find((x) => x.name === name);

describe("Memberlist on loopback", () => {
  test("5 nodes converge, with each other's address, port and meta", async () => {
    const nodes = await cluster(5);
    for (const m of nodes) {
      for (const other of nodes) {
        const v = view(m, other.localName);
        expect(v?.state).toBe("alive");
        expect(v?.address).toBe("127.0.0.1");
        expect(v?.port).toBe(other.port);
        expect(text(v!.meta)).toBe(`meta-${other.localName}`);
      }
    }
  });

  test("a killed node is suspected, then declared dead by all, within the suspicion bounds", async () => {
    const nodes = await cluster(5);
    const victim = nodes[4];
    const others = nodes.slice(0, 4);
    const firstSuspect: number[] = [];
    const deadAt = new Map<string, number>();
    for (const m of others) {
      events(m).on("update", (x) => x.name === victim.localName && x.state === "suspect" && firstSuspect.push(performance.now()));
      events(m).on("leave", (x) => x.name === victim.localName && x.state === "dead" && deadAt.set(m.localName, performance.now()));
    }
    const killedAt = performance.now();
    await victim.shutdown();
    // N=5: k=2, min = 4 × 200 ms, max = 6 × min
    const min = suspicionTimeoutMs(FAST.suspicionMult, 5, FAST.probeIntervalMs);
    const max = FAST.suspicionMaxTimeoutMult * min;
    // worst case: a full probe round (4 peers × scaled interval) before anyone suspects, then max
    const bound = 4 * FAST.probeIntervalMs * FAST.awarenessMaxMultiplier + max + 1000;
    await waitFor("all peers mark the victim dead", () => others.every((m) => view(m, victim.localName)?.state === "dead"), bound);
    expect(firstSuspect.length).toBeGreaterThan(0);
    // every peer declared it dead itself (the "dead" event), none merely heard of it after the loop below
    await waitFor("every peer's dead event", () => deadAt.size === others.length, FAST.probeIntervalMs * 5);
    expect([...deadAt.keys()].sort()).toEqual(others.map((m) => m.localName).sort());
    const earliest = Math.min(...firstSuspect);
    for (const [, t] of deadAt) {
      // nobody may give up before the minimum suspicion time (minus one wheel tick of slack)
      expect(t - earliest).toBeGreaterThanOrEqual(min - 20);
      expect(t - killedAt).toBeLessThan(bound);
    }
    for (const m of others) expect(m.aliveMembers().map((x) => x.name)).not.toContain(victim.localName);
    const totals = others.reduce((s, m) => s + m.metrics().suspicionsRaised, 0);
    expect(totals).toBeGreaterThan(0);
  }, 30_000); // the detection bound above is longer than Bun's 5 s default

  test("a falsely suspected node refutes with a higher incarnation", async () => {
    const nodes = await cluster(3);
    const [a, , c] = nodes;
    const before = view(a, c.localName)!.incarnation;
    // tell a (over the wire) that c is suspect at its current incarnation
    const rumour = encodePacket(encodeMessage({ type: "suspect", body: { incarnation: before, node: c.localName, from: "n1" } }));
    const sock = await Bun.udpSocket({});
    sock.send(rumour, a.port, "127.0.0.1");
    await waitFor("c refutes", () => c.metrics().refutations >= 1);
    // memberlist's refute(): the next incarnation, which beats the accused one (before) by exactly one
    await waitFor("everyone sees c alive at the refuting incarnation", () => nodes.every((m) => view(m, c.localName)!.incarnation === before + 1 && view(m, c.localName)!.state === "alive"));
    // one accusation, one refutation: the copies of the rumour gossiped back to c are stale by then
    expect(c.metrics().refutations).toBe(1);
    sock.close();
  });

  test("metadata changes reach every node", async () => {
    const nodes = await cluster(4);
    const updates: string[] = [];
    for (const m of nodes.slice(1)) events(m).on("update", (x) => x.name === "n0" && updates.push(m.localName));
    delegates.get(nodes[0])!.meta.meta = meta("v2");
    nodes[0].updateNode();
    await waitFor("meta v2 everywhere", () => nodes.every((m) => text(view(m, "n0")!.meta) === "v2"));
    expect(updates.sort()).toEqual(["n1", "n2", "n3"]);
    delegates.get(nodes[0])!.meta.meta = new Uint8Array(513);
    expect(() => nodes[0].updateNode()).toThrow(/limit is 512/);
  });

  test("graceful leave shows as left everywhere", async () => {
    const nodes = await cluster(4);
    const leaver = nodes[3];
    const leaves: string[] = [];
    for (const m of nodes.slice(0, 3)) events(m).on("leave", (x) => x.name === leaver.localName && x.state === "left" && leaves.push(m.localName));
    await leaver.leave(3000);
    await leaver.shutdown();
    await waitFor("all show left", () => nodes.slice(0, 3).every((m) => view(m, leaver.localName)?.state === "left"));
    expect(leaves.sort()).toEqual(["n0", "n1", "n2"]);
    // and nobody turns it into "dead" afterwards
    await Bun.sleep(FAST.probeIntervalMs * 3);
    for (const m of nodes.slice(0, 3)) expect(view(m, leaver.localName)?.state).toBe("left");
  });

  test("mismatched keys never form one cluster, and the drops are counted", async () => {
    const a = await node("a", { secrets: { primary: "key-one" } });
    const b = await node("b", { secrets: { primary: "key-two" } });
    const plain = await node("p");
    await expect(b.join([`127.0.0.1:${a.port}`])).rejects.toThrow();
    await expect(plain.join([`127.0.0.1:${a.port}`])).rejects.toThrow();
    // packets too: aim b's and p's gossip at a directly
    const sock = await Bun.udpSocket({});
    sock.send(encodePacket(encodeMessage({ type: "ping", body: { seqNo: 1, node: "" } })), a.port, "127.0.0.1");
    await waitFor("a counted the drops", () => (a.metrics().dropped.plaintext ?? 0) + (a.metrics().dropped.decrypt ?? 0) >= 3);
    await Bun.sleep(FAST.probeIntervalMs * 2);
    expect(a.members().map((m) => m.name)).toEqual(["a"]);
    expect(b.members().map((m) => m.name)).toEqual(["b"]);
    expect(plain.members().map((m) => m.name)).toEqual(["p"]);
    sock.close();
  });

  test("same key: encrypted nodes form a cluster", async () => {
    const nodes = await cluster(3, { secrets: { primary: "shared", extra: ["older"] } });
    expect(nodes[0].metrics().dropped).toEqual({});
  });

  test("a restarted node with the same name and port rejoins and refutes its old death", async () => {
    const nodes = await cluster(3);
    const old = nodes[2];
    const port = old.port;
    const oldInc = view(nodes[0], old.localName)!.incarnation;
    await old.shutdown();
    await waitFor("declared dead", () => view(nodes[0], old.localName)?.state === "dead", 10000);
    const reborn = await node(old.localName, { bindPort: port, peers: [`127.0.0.1:${nodes[0].port}`] });
    await waitFor("alive again everywhere", () => [nodes[0], nodes[1], reborn].every((m) => view(m, old.localName)?.state === "alive" && m.aliveMembers().length === 3), 5000);
    expect(view(nodes[0], old.localName)!.incarnation).toBeGreaterThan(oldInc);
    expect(reborn.metrics().refutations).toBeGreaterThan(0);
  });

  test("a node alone keeps retrying its seeds, so it joins when the seed comes up later", async () => {
    const seedPort = (await node("probe-port")).port;
    await live.pop()!.shutdown(); // free that port again
    const lonely = await node("lonely", { peers: [`127.0.0.1:${seedPort}`] });
    await Bun.sleep(300);
    expect(lonely.members().length).toBe(1);
    const seed = await node("seed", { bindPort: seedPort });
    await waitFor("lonely joined the late seed", () => lonely.aliveMembers().length === 2 && seed.aliveMembers().length === 2, 5000);
  });

  test("setPeers gives a lone node new seeds to retry", async () => {
    const seed = await node("seed");
    const lonely = await node("lonely");
    await Bun.sleep(100);
    expect(lonely.members().length).toBe(1);
    lonely.setPeers([`127.0.0.1:${seed.port}`]);
    await waitFor("joined via the new seed", () => lonely.aliveMembers().length === 2 && seed.aliveMembers().length === 2);
  });

  test("hostname seeds resolve (localhost)", async () => {
    const a = await node("a");
    const b = await node("b");
    expect(await b.join([`localhost:${a.port}`])).toBeGreaterThanOrEqual(1);
    await waitFor("joined", () => a.aliveMembers().length === 2);
  });
});
