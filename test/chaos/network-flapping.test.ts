// Flapping backend: 3 node processes (loopback 127.x.43.11–13; h1 has a steady and a flapping backend,
// h2 and h3 one each) under paced load; h1-b2 goes down and up every 500 ms (its port closed and
// reopened). Health thresholds (rise 2, fall 3, checks every 300 ms) and passive failures damp it,
// the metadata broadcasts it causes stay bounded (MetaPublisher: at most one per 200 ms), and no
// request fails: a refused connect is retried on a healthy backend.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  allMetrics,
  gossipDelta,
  LOG_DECLARED_DEAD,
  type LoopbackCluster,
  loopbackHosts,
  nextLine,
  startLoad,
  startLoopbackCluster,
  summary,
} from "./netfaults/cluster.ts";

const FLAP_S = 20;
const HALF_PERIOD_MS = 500;
const RATE = 40;
const hosts = loopbackHosts(43, [2, 1, 1]);

describe("flapping backend", () => {
  let c: LoopbackCluster;

  beforeAll(async () => {
    c = await startLoopbackCluster(
      hosts,
      { health: { interval: "300ms", timeout: "200ms", rise: 2, fall: 3 } },
      { flap: `h1-b2:${HALF_PERIOD_MS}` },
    );
  }, 60_000);

  afterAll(async () => {
    await c?.stop();
  });

  test(
    `up/down every ${HALF_PERIOD_MS} ms for ${FLAP_S} s: damped, bounded meta broadcasts, no failed request`,
    async () => {
      const h1 = c.nodes[0]!;
      const flapper = `${h1.host.ip}:3002`;
      const before = await allMetrics(c.nodes);
      const loadP = startLoad(
        c.nodes.map((n) => n.url),
        { rate: RATE, durationMs: FLAP_S * 1000 },
      ).done;
      c.backends.kill("SIGUSR1");
      const load = await loadP;
      c.backends.kill("SIGUSR2");
      const { flaps } = (await nextLine(c.backends, 5000)) as { flaps: number };
      const after = await allMetrics(c.nodes);
      const g = gossipDelta(before, after);
      const transitions = ["up", "down"].reduce(
        (a, to) => a + (after[0]!.get(`clusterclub_health_transitions_total{pool="default",backend="${flapper}",to="${to}"}`) ?? 0) - (before[0]!.get(`clusterclub_health_transitions_total{pool="default",backend="${flapper}",to="${to}"}`) ?? 0),
        0,
      );
      const h1Meta = (after[0]!.get("clusterclub_gossip_meta_broadcasts_total") ?? 0) - (before[0]!.get("clusterclub_gossip_meta_broadcasts_total") ?? 0);
      const perMinute = Math.round((h1Meta * 60) / FLAP_S);
      const recoveryMs = await c.converged(10_000);
      const deaths = c.nodes.flatMap((n) => n.logs(LOG_DECLARED_DEAD));
      summary({
        scenario: "flapping backend",
        load: `${RATE} req/s over 3 entry nodes for ${FLAP_S} s`,
        faults: `h1-b2 down/up every ${HALF_PERIOD_MS} ms (${flaps} flaps)`,
        sent: load.sent,
        failed: load.failed,
        false_deaths: deaths.length,
        health_transitions: transitions,
        meta_broadcasts: h1Meta,
        meta_broadcasts_per_min: perMinute,
        suspicions: `${g.suspicionsRaised}/${g.refutations}`,
        recovery_ms: Math.round(recoveryMs),
      });
      if (load.errors.length > 0) console.log(load.errors.join("\n"));
      expect(flaps).toBeGreaterThanOrEqual(FLAP_S); // it did flap (2 per second)
      expect(load.failed).toBe(0);
      // Seen: the node did notice the flapping (at least one down and one up; a refused connect marks the
      // backend down at once), and published it…
      expect(transitions).toBeGreaterThanOrEqual(2);
      expect(h1Meta).toBeGreaterThanOrEqual(1);
      // …damped: fewer state changes than the backend made, and no more broadcasts than state changes.
      expect(transitions).toBeLessThan(flaps);
      expect(h1Meta).toBeLessThanOrEqual(transitions);
      // Bounded: MetaPublisher sends at most one update per 200 ms.
      expect(perMinute).toBeLessThanOrEqual(300);
      expect(deaths).toEqual([]);
    },
    FLAP_S * 1000 + 60_000,
  );
});
