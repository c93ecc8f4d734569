// Healing after a partition: two halves of a split cluster, each with more than one node (so neither is
// "alone" and the joiner never retries its seeds), find each other again through the failed members
// they remember. In-process nodes on 127.0.0.2–5, split by FaultyTransport.
import { afterEach, describe, expect, test } from "bun:test";
import { Memberlist, type MemberlistInit } from "../../src/cluster/memberlist.ts";
import { FailedMembers } from "../../src/cluster/reconnect.ts";
import { faultyNetTransport, setFaults } from "../helpers/faults.ts";
import { FAST, quietLogger, waitFor } from "./helpers.ts";

const live: Memberlist[] = [];
afterEach(async () => {
  setFaults(null);
  await Promise.all(live.splice(0).map((m) => m.shutdown()));
});

const IPS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];

async function cluster(extra: Partial<MemberlistInit>): Promise<Memberlist[]> {
  const nodes: Memberlist[] = [];
  for (const [i, ip] of IPS.entries()) {
    const m = await Memberlist.create({
      name: `n${i}`,
      transport: await faultyNetTransport({ bindAddress: ip, bindPort: 0, logger: quietLogger() }),
      peers: i === 0 ? [] : [`${IPS[0]}:${nodes[0]!.port}`],
      logger: quietLogger(),
      ...FAST,
      ...extra,
    });
    live.push(m);
    nodes.push(m);
  }
  await waitFor("4 nodes converge", () => nodes.every((m) => m.aliveMembers().length === 4));
  return nodes;
}

const stateIn = (m: Memberlist, name: string) => m.members().find((x) => x.name === name)?.state ?? "gone";

async function splitAndHeal(nodes: Memberlist[], deadForMs: number): Promise<number> {
  const [a, b] = [nodes.slice(0, 2), nodes.slice(2)];
  setFaults({ partition: [IPS.slice(0, 2), IPS.slice(2)] });
  await waitFor(
    "each side marks the other dead",
    () => a.every((x) => b.every((y) => ["dead", "gone"].includes(stateIn(x, y.localName)))) && b.every((x) => a.every((y) => ["dead", "gone"].includes(stateIn(x, y.localName)))),
    15_000,
  );
  // Each side is complete inside, so nobody is alone.
  for (const side of [a, b]) for (const m of side) expect(m.aliveMembers().length).toBe(2);
  await Bun.sleep(deadForMs);
  setFaults(null);
  return waitFor("one cluster again", () => nodes.every((m) => m.aliveMembers().length === 4), 3 * FAST.pushPullIntervalMs + 2000);
}

describe("reconnecting after a partition", () => {
  test("a 2/2 split heals while the dead entries are still in the tables", async () => {
    const nodes = await cluster({ gossipToTheDeadMs: 30_000 });
    const ms = await splitAndHeal(nodes, 500);
    console.log(`2/2 split, healed (dead entries kept) in ${ms.toFixed(0)} ms`);
  }, 30_000);

  test("a 2/2 split heals after the dead entries were reaped", async () => {
    const nodes = await cluster({ gossipToTheDeadMs: 500 });
    const ms = await splitAndHeal(nodes, 2000);
    console.log(`2/2 split, healed (dead entries reaped) in ${ms.toFixed(0)} ms`);
  }, 30_000);

  test("a member that left is never dialled again", async () => {
    const nodes = await cluster({});
    await nodes[3]!.leave(2000);
    await nodes[3]!.shutdown();
    await waitFor("left everywhere", () => nodes.slice(0, 3).every((m) => stateIn(m, "n3") === "left"));
    const before = nodes.slice(0, 3).reduce((s, m) => s + m.metrics().pushPullFailures, 0);
    await Bun.sleep(2 * FAST.pushPullIntervalMs + 200);
    expect(nodes.slice(0, 3).reduce((s, m) => s + m.metrics().pushPullFailures, 0)).toBe(before);
  }, 30_000);
});

describe("FailedMembers", () => {
  test("remembers dead members until they recover or the reconnect timeout passes", () => {
    let now = 0;
    const f = new FailedMembers(1000, () => now);
    expect(f.pick()).toBeUndefined();
    f.failed("a", { address: "127.0.0.9", port: 1 });
    f.failed("b", { address: "127.0.0.9", port: 2 });
    expect(f.size).toBe(2);
    f.recovered("a");
    expect(f.pick()?.name).toBe("b");
    now = 1001;
    expect(f.pick()).toBeUndefined();
    expect(f.size).toBe(0);
  });

  test("picks among all failed members", () => {
    const f = new FailedMembers(1000, () => 0);
    for (const n of ["a", "b", "c"]) f.failed(n, { address: "127.0.0.9", port: 1 });
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(f.pick()!.name);
    expect([...seen].sort()).toEqual(["a", "b", "c"]);
  });
});
