import { describe, expect, test } from "bun:test";
import type { GossipMetrics } from "../../src/cluster/index.ts";
import { CallbackGauge, Counter, Histogram, LATENCY_BUCKETS_S, Registry } from "../../src/metrics/index.ts";
import { GossipSeries } from "../../src/metrics/gossip.ts";

describe("metrics registry", () => {
  test("label values are escaped (backslash, quote, newline) in every series type", () => {
    const reg = new Registry();
    const c = reg.add(new Counter("t_total", "help"));
    c.inc({ target: 'a"b\\c\nd' });
    reg.add(new CallbackGauge("t_gauge", "help", () => [{ labels: { backend: 'x"y' }, value: 2 }]));
    const text = reg.render();
    expect(text).toContain('t_total{target="a\\"b\\\\c\\nd"} 1');
    expect(text).toContain('t_gauge{backend="x\\"y"} 2');
    expect(text).toContain("# TYPE t_total counter\n");
    expect(text).toContain("# TYPE t_gauge gauge\n");
  });

  test("histograms render cumulative buckets over the shared bounds", () => {
    const h = new Histogram("lat_seconds", "help", LATENCY_BUCKETS_S);
    h.observe(0.002);
    h.observe(20);
    const out: string[] = [];
    h.render(out);
    expect(out).toContain('lat_seconds_bucket{le="0.001"} 0');
    expect(out).toContain('lat_seconds_bucket{le="0.0025"} 1');
    expect(out).toContain('lat_seconds_bucket{le="10"} 1');
    expect(out).toContain('lat_seconds_bucket{le="+Inf"} 2');
    expect(out).toContain("lat_seconds_count 2");
  });

  test("gossip series escape what the engine reports (drop reasons, message types)", () => {
    const m: GossipMetrics = {
      messagesIn: { 'we"ird': 1 },
      messagesOut: {},
      packetsIn: 1,
      packetsOut: 2,
      bytesIn: 3,
      bytesOut: 4,
      streamsIn: 0,
      streamsOut: 0,
      dropped: { decrypt: 5 },
      probes: 0,
      probeFailures: 0,
      suspicionsRaised: 0,
      refutations: 0,
      pushPulls: 0,
      pushPullFailures: 0,
      healthScore: 0,
      members: { alive: 1, suspect: 0, dead: 0, left: 0 },
    };
    const out: string[] = [];
    new GossipSeries(() => m, () => 7).render(out);
    expect(out).toContain('clusterclub_gossip_messages_in_total{type="we\\"ird"} 1');
    expect(out).toContain('clusterclub_gossip_dropped_total{reason="decrypt"} 5');
    expect(out).toContain("clusterclub_gossip_meta_broadcasts_total 7");
    expect(out).toContain("# TYPE clusterclub_gossip_health_score gauge");
  });
});
