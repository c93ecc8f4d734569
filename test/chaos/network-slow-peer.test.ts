// Slow peer: 5 node processes (loopback 127.x.44.11–15, one backend each) under paced load; one node's
// event loop is blocked for 3 s (SIGUSR2, installed by CLUSTERCLUB_TEST_FAULTS: a GC pause, a stalled
// VM). The others suspect it and stop routing to it; it wakes, refutes, and nobody declares it dead.
// No request is lost: the ones in flight on it (or forwarded to it) just take the 3 s longer.
//
// Timings: probes every 500 ms and suspicion_mult 8, so a suspicion lasts 4 s (k = 0 with 5 nodes)
// — longer than the stall, as with memberlist's LAN defaults (1 s probes, ≥ 4 s suspicion). With 200 ms
// probes a suspicion lasts 0.8–4.8 s and a 3 s stall is rightly taken for a death.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { until } from "../helpers/node.ts";
import {
  allMetrics,
  gossipDelta,
  LOG_DECLARED_DEAD,
  type LoopbackCluster,
  loopbackHosts,
  MembershipWatch,
  startLoad,
  startLoopbackCluster,
  summary,
} from "./netfaults/cluster.ts";

const BLOCK_MS = 3000;
const PROBE_MS = 500;
const GOSSIP_MS = 50;
/**
 * Recovery in protocol terms: on waking the victim handles the suspicions queued for it and refutes at
 * once, or at the latest when the next probe (one probe interval) reaches it; its alive then spreads in a
 * few gossip rounds. Ten gossip rounds and the watcher's 50 ms poll are the slack.
 */
const RECOVERY_BOUND_MS = PROBE_MS + 10 * GOSSIP_MS + 50;
const RATE = 40;
const hosts = loopbackHosts(44, [1, 1, 1, 1, 1]);

describe("slow peer", () => {
  let c: LoopbackCluster;

  beforeAll(async () => {
    c = await startLoopbackCluster(
      hosts,
      { cluster: { probe_interval: `${PROBE_MS}ms`, probe_timeout: "250ms", suspicion_mult: 8, gossip_interval: `${GOSSIP_MS}ms` } },
      { faults: { blockMs: BLOCK_MS } },
    );
  }, 60_000);

  afterAll(async () => {
    await c?.stop();
  });

  test(
    "a node blocked for 3 s is suspected, refutes, is never declared dead; no request is lost",
    async () => {
      const victim = c.nodes[2]!;
      const others = c.nodes.filter((n) => n !== victim);
      const before = await allMetrics(c.nodes);
      const watch = new MembershipWatch(others, 50);
      const loadP = startLoad(
        c.nodes.map((n) => n.url),
        { rate: RATE, durationMs: 10_000, timeoutMs: 15_000 },
      ).done;
      await Bun.sleep(3000);
      const blockedAt = Date.now();
      victim.block();
      const wakesAt = blockedAt + BLOCK_MS;
      const load = await loadP;
      await until(() => others.every((o) => watch.state(o.name, victim.name) === "alive"), 10_000, 20);
      await watch.stop();
      // Recovery: from the moment it wakes until the last observer that suspected it shows it alive again.
      const back = others.map((o) => watch.first(victim.name, "alive", blockedAt, [o.name])?.at ?? 0);
      const recoveredAt = Math.max(wakesAt, ...back);
      await c.converged(10_000);
      const g = gossipDelta(before, await allMetrics(c.nodes));
      const victimRefutations = (await victim.metrics()).get("clusterclub_gossip_refutations_total")! - (before[2]!.get("clusterclub_gossip_refutations_total") ?? 0);
      const deaths = c.nodes.flatMap((n) => n.logs(LOG_DECLARED_DEAD));

      // While an observer showed the victim as suspect (and the victim was still asleep), requests entering
      // at that observer must not have gone to the victim's backend.
      const victimBackend = victim.host.backends[0]!;
      let routedWhileSuspect = 0;
      const suspectedBy: string[] = [];
      others.forEach((o) => {
        const t = watch.first(victim.name, "suspect", blockedAt, [o.name]);
        if (!t || t.at >= wakesAt) return;
        suspectedBy.push(o.host.name);
        const entry = c.nodes.indexOf(o);
        routedWhileSuspect += load.records.filter(([start, e, , backend]) => e === entry && load.startedAt + start >= t.at && load.startedAt + start < wakesAt && backend === victimBackend).length;
      });
      const maxLatency = Math.max(...load.records.map((r) => r[4]));
      summary({
        scenario: "slow peer (event loop blocked 3 s)",
        load: `${RATE} req/s over 5 entry nodes for 10 s`,
        faults: `${victim.host.name} blocked ${BLOCK_MS} ms (SIGUSR2)`,
        sent: load.sent,
        failed: load.failed,
        false_deaths: deaths.length,
        suspected_by: suspectedBy.join(",") || "nobody",
        routed_to_it_while_suspect: routedWhileSuspect,
        suspicions: `${g.suspicionsRaised}/${g.refutations}`,
        victim_refutations: victimRefutations,
        max_latency_ms: maxLatency,
        recovery_ms: recoveredAt - wakesAt,
        recovery_bound_ms: RECOVERY_BOUND_MS,
      });
      if (load.errors.length > 0) console.log(load.errors.join("\n"));
      expect(load.failed).toBe(0);
      expect(load.skipped).toBe(0);
      expect(deaths).toEqual([]);
      expect(watch.count("dead", blockedAt)).toBe(0);
      // Suspected by someone (a probe every 500 ms from each peer: ~5 probes of it fail during the stall),
      // and it refuted.
      expect(suspectedBy.length).toBeGreaterThan(0);
      expect(victimRefutations).toBeGreaterThan(0);
      expect(routedWhileSuspect).toBe(0);
      // The requests that waited for it did finish, late.
      expect(maxLatency).toBeGreaterThan(BLOCK_MS / 2);
      // Back in everyone's view within the recovery bound.
      expect(recoveredAt - wakesAt).toBeLessThanOrEqual(RECOVERY_BOUND_MS);
    },
    60_000,
  );
});
