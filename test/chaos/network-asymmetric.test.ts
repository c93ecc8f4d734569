// Asymmetric loss: 5 node processes (loopback 127.x.42.11–15), fast gossip timings, paced HTTP load.
// For 15 s node h2 receives nothing from h4 (UDP from h4 dropped at h2; TCP between them fails both ways,
// as a handshake needs both directions). h4's direct pings of h2 and h2's of h4 go unanswered, so the
// failure detector must rely on indirect probes through the other three: neither is declared dead.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { faultUnderLoad, type LoopbackCluster, loopbackHosts, report, startLoopbackCluster } from "./netfaults/cluster.ts";

const FAULT_S = 15;
const RATE = 40;
const hosts = loopbackHosts(42, [1, 1, 1, 1, 1]);

describe("asymmetric gossip loss", () => {
  let c: LoopbackCluster;

  beforeAll(async () => {
    c = await startLoopbackCluster(hosts, {});
  }, 60_000);

  afterAll(async () => {
    await c?.stop();
  });

  test(
    "h2 cannot receive from h4: indirect probes keep both alive, no request fails",
    async () => {
      const [h2, h4] = [c.nodes[1]!, c.nodes[3]!];
      // The same one-way link seen from both ends (on loopback outbound TCP leaves from 127.0.0.1, so
      // h2 alone could not tell h4's connections apart).
      const { since, load, watch, gossip: g, recoveryMs, deathLines: deaths } = await faultUnderLoad(c, {
        rate: RATE,
        durationMs: FAULT_S * 1000,
        inject: () => {
          h2.setFaults({ dropFrom: [h4.host.ip] });
          h4.setFaults({ dropTo: [h2.host.ip] });
        },
        heal: () => {
          h2.setFaults({});
          h4.setFaults({});
        },
      });
      report(
        {
          scenario: "asymmetric loss",
          load: `${RATE} req/s over 5 entry nodes for ${FAULT_S} s`,
          faults: "h2 receives nothing from h4 (UDP dropped, TCP both ways fails)",
          sent: load.sent,
          failed: load.failed,
          false_deaths: deaths.length,
          dead_seen: watch.count("dead", since),
          suspect_seen: watch.count("suspect", since),
          suspicions: `${g.suspicionsRaised}/${g.refutations}`,
          indirect_pings: g.indirectPings,
          pushpull_failed: g.pushPullsFailed,
          recovery_ms: Math.round(recoveryMs),
        },
        load,
      );
      // h4 → h2 and h2 → h4 probes needed help: at least one indirect ping per probe of each other
      // (each node probes one of 4 peers every 200 ms: dozens in 15 s).
      expect(g.indirectPings).toBeGreaterThanOrEqual(10);
      expect(deaths).toEqual([]);
      expect(watch.count("dead", since)).toBe(0);
      expect(load.failed).toBe(0);
    },
    FAULT_S * 1000 + 60_000,
  );
});
