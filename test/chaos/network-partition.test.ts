// Partition and heal on real hosts (network namespaces; see netfaults/labcluster.ts for how the cut is
// made): 5 hosts with 1, 2, 3, 1, 2 backends, split 3/2 for 30 s under load from a client on each side.
// Each side keeps serving from its own backends and marks the other side dead; after the heal the
// cluster is one again within a push/pull interval plus a gossip round, and the shares follow the
// healthy-count weights again. Then one host is cut off from everything (its veth detached from the
// bridge) and must find its way back by itself.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { until } from "../helpers/node.ts";
import { Lab, labAvailable } from "../cluster/multihost/lab.ts";
import { requirePrerequisite } from "../helpers/prereq.ts";
import { LAN_DEFAULTS } from "../../src/cluster/memberlist.ts";
import { suspicionTimeoutMs } from "../../src/cluster/suspicion.ts";
import { allMetrics, FAST_TIMINGS, gossipDelta, MembershipWatch, type NodeProc, summary } from "./netfaults/cluster.ts";
import { cut, heal, type LabCluster, labLoad, startLabCluster } from "./netfaults/labcluster.ts";
import type { LoadOutcome } from "./netfaults/loadgen.ts";

const PART_S = Number(process.env.CC_CHAOS_PARTITION_S ?? 30);
const ALONE_S = 10;
const BACKENDS = [1, 2, 3, 1, 2];
const PUSHPULL_MS = 2000;
const PROBE_MS = Number.parseInt(FAST_TIMINGS.probe_interval, 10);
const SUSPICION_MULT = 4; // the config default, which these nodes use

/**
 * Detection in protocol terms, for n members: every member is probed once per round of n-1 probe intervals
 * (stretched at most awarenessMaxMultiplier times while probes fail), and the suspicion it raises lasts at
 * most suspicionMaxTimeoutMult times its minimum; the dead then spreads by gossip (in the 1 s slack, which
 * also covers the watcher's 100 ms polls).
 */
const DETECTION_BOUND_MS =
  (BACKENDS.length - 1) * PROBE_MS * LAN_DEFAULTS.awarenessMaxMultiplier + LAN_DEFAULTS.suspicionMaxTimeoutMult * suspicionTimeoutMs(SUSPICION_MULT, BACKENDS.length, PROBE_MS) + 1000;
/**
 * Heal in protocol terms: every node tries one member it saw die once per push/pull round, so the next round
 * after the heal merges the two tables; what it learns spreads by gossip (30 ms rounds) in the 1 s slack.
 */
const HEAL_BOUND_MS = PUSHPULL_MS + 1000;

const avail = labAvailable();
const noLab = requirePrerequisite("partition scenarios (network namespaces)", avail.ok ? undefined : avail.why);

/** Every node in `observers` shows every node in `members` in one of `states` (absent counts as "gone"). */
async function sees(observers: NodeProc[], members: NodeProc[], states: string[]): Promise<boolean> {
  for (const o of observers) {
    let s;
    try {
      s = await o.status(500);
    } catch {
      return false;
    }
    for (const m of members) {
      const state = s.members.find((x) => x.name === m.name)?.state ?? "gone";
      if (!states.includes(state)) return false;
    }
  }
  return true;
}

/** Failed requests started before / at or after `t` (epoch ms). */
function failuresAround(out: LoadOutcome, t: number): { before: number; after: number } {
  let before = 0;
  let after = 0;
  for (const [start, , status] of out.records) {
    if (status === 200) continue;
    if (out.startedAt + start < t) before++;
    else after++;
  }
  return { before, after };
}

describe.skipIf(noLab)("partition and heal (network namespaces)", () => {
  let lab: Lab;
  let c: LabCluster;

  beforeAll(async () => {
    lab = Lab.create(5);
    // A request forwarded across the cut just before it was noticed waits this long, then fails.
    c = await startLabCluster(lab, BACKENDS, { cluster: { pushpull_interval: `${PUSHPULL_MS}ms` }, proxy: { response_timeout: "10s" } });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(c?.nodes.map((n) => n.stop()) ?? []);
    await lab?.destroy();
  });

  test(
    `3/2 split for ${PART_S} s: each side serves its own backends and marks the other dead; one cluster again after the heal`,
    async () => {
      const A = lab.hosts.slice(0, 3);
      const B = lab.hosts.slice(3);
      const nA = c.nodes.slice(0, 3);
      const nB = c.nodes.slice(3);
      const before = await allMetrics(c.nodes);
      const watch = new MembershipWatch(c.nodes, 100);
      const loadMs = 1000 + PART_S * 1000;
      // Side A's client is the lab's client host (it is on neither side of the cut); side B's clients sit
      // on h4 and h5 and use their own node through 127.0.0.1 (not a member address: balanced normally).
      const loads = [
        labLoad(lab, lab.client, nA.map((n) => n.url), { rate: 30, durationMs: loadMs }),
        labLoad(lab, B[0]!, ["http://127.0.0.1:8080/"], { rate: 10, durationMs: loadMs }),
        labLoad(lab, B[1]!, ["http://127.0.0.1:8080/"], { rate: 10, durationMs: loadMs }),
      ];
      await Bun.sleep(1000);
      const cutAt = Date.now();
      cut(A, B);
      await until(async () => (await sees(nA, nB, ["dead", "gone"])) && (await sees(nB, nA, ["dead", "gone"])), 20_000, 100);
      const detectedAt = Date.now();
      const [la, lb4, lb5] = await Promise.all(loads);
      // Still two clusters at the end of the cut, each complete inside.
      expect(await sees(nA, nB, ["dead", "gone"])).toBe(true);
      expect(await sees(nB, nA, ["dead", "gone"])).toBe(true);
      expect(await sees(nA, nA, ["alive"])).toBe(true);
      expect(await sees(nB, nB, ["alive"])).toBe(true);

      heal(A, B);
      const healMs = await c.converged(60_000);
      await watch.stop();
      const g = gossipDelta(before, await allMetrics(c.nodes));

      // Who served whom while cut: side A's clients only from A's backends once B was dead, and vice versa.
      const served = (out: LoadOutcome, side: string[]) =>
        out.records.filter(([start, , status, backend]) => status === 200 && out.startedAt + start >= detectedAt && !side.some((h) => backend.startsWith(`${h}-`))).length;
      const crossA = served(la!, ["h1", "h2", "h3"]);
      const crossB = served(lb4!, ["h4", "h5"]) + served(lb5!, ["h4", "h5"]);
      const fa = failuresAround(la!, detectedAt);
      const fb4 = failuresAround(lb4!, detectedAt);
      const fb5 = failuresAround(lb5!, detectedAt);
      const sent = la!.sent + lb4!.sent + lb5!.sent;
      const failed = la!.failed + lb4!.failed + lb5!.failed;
      summary({
        scenario: "partition 3/2 and heal",
        load: `30 req/s on side A (client host) + 2×10 req/s on side B (h4, h5) for ${PART_S} s`,
        faults: `h1-h3 | h4-h5 cut for ${PART_S} s (packets across silently lost)`,
        sent,
        failed,
        failed_before_detection: fa.before + fb4.before + fb5.before,
        failed_after_detection: fa.after + fb4.after + fb5.after,
        detection_ms: detectedAt - cutAt,
        cross_side_served_after_detection: crossA + crossB,
        deaths: "the other side's, as they should",
        suspicions: `${g.suspicionsRaised}/${g.refutations}`,
        detection_bound_ms: DETECTION_BOUND_MS,
        heal_ms: Math.round(healMs),
        heal_bound_ms: HEAL_BOUND_MS,
      });
      for (const l of [la!, lb4!, lb5!]) if (l.errors.length > 0) console.log(l.errors.slice(0, 5).join("\n"));
      // Before detection too: a request on a connection to a node that went silent is retried on another
      // node as soon as that node is suspected, and a new connection to it times out in ~2 probe timeouts.
      // (The 2-node side may take a few seconds to suspect a given node: response_timeout is 10 s here.)
      expect(fa.before + fb4.before + fb5.before).toBe(0);
      expect(fa.after + fb4.after + fb5.after).toBe(0);
      expect(crossA + crossB).toBe(0);
      expect(detectedAt - cutAt).toBeLessThanOrEqual(DETECTION_BOUND_MS);
      // One cluster again within one push/pull interval of the heal (plus gossip spread).
      expect(healMs).toBeLessThanOrEqual(HEAL_BOUND_MS);
    },
    PART_S * 1000 + 120_000,
  );

  test("after the heal the shares follow the healthy-count weights again", async () => {
    const out = await labLoad(lab, lab.client, [c.nodes[0]!.url], { rate: 150, durationMs: 6000 });
    expect(out.failed).toBe(0);
    const byHost = new Map<string, number>();
    for (const [, , status, backend] of out.records) if (status === 200) byHost.set(backend.split("-")[0]!, (byHost.get(backend.split("-")[0]!) ?? 0) + 1);
    const total = BACKENDS.reduce((a, b) => a + b, 0);
    const shares = lab.hosts.map((h, i) => `${h.name}=${byHost.get(h.name) ?? 0}(${Math.round((out.sent * BACKENDS[i]!) / total)})`);
    console.log(`shares after heal (served(expected)): ${shares.join(" ")}`);
    lab.hosts.forEach((h, i) => {
      const want = (out.sent * BACKENDS[i]!) / total;
      expect(byHost.get(h.name) ?? 0).toBeGreaterThanOrEqual(want * 0.9 - 2);
      expect(byHost.get(h.name) ?? 0).toBeLessThanOrEqual(want * 1.1 + 2);
    });
  }, 30_000);

  test(`one host cut off from everything for ${ALONE_S} s finds its way back by itself`, async () => {
    const h5 = lab.hosts[4]!;
    const n5 = c.nodes[4]!;
    const others = c.nodes.slice(0, 4);
    const out = labLoad(lab, lab.client, others.map((n) => n.url), { rate: 30, durationMs: ALONE_S * 1000 + 1000 });
    await Bun.sleep(1000);
    const cutAt = Date.now();
    lab.setLink(h5, false);
    await until(() => sees(others, [n5], ["dead", "gone"]), 20_000, 100);
    const detectedAt = Date.now();
    const load = await out;
    lab.setLink(h5, true);
    const healMs = await c.converged(60_000);
    const f = failuresAround(load, detectedAt);
    summary({
      scenario: "one host detached and re-attached",
      load: `30 req/s over h1-h4 for ${ALONE_S} s`,
      faults: `h5's veth detached from the bridge for ${ALONE_S} s`,
      sent: load.sent,
      failed: load.failed,
      failed_before_detection: f.before,
      failed_after_detection: f.after,
      detection_ms: detectedAt - cutAt,
      detection_bound_ms: DETECTION_BOUND_MS,
      heal_ms: Math.round(healMs),
      heal_bound_ms: HEAL_BOUND_MS,
    });
    expect(f.after).toBe(0);
    expect(detectedAt - cutAt).toBeLessThanOrEqual(DETECTION_BOUND_MS);
    expect(healMs).toBeLessThanOrEqual(HEAL_BOUND_MS);
  }, 90_000);
});
