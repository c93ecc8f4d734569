// The gossip layer's counters as Prometheus series (clusterclub_gossip_*), read at scrape time.

import type { Labels, Series } from "../admin/metrics.ts";
import type { GossipMetrics } from "../cluster/index.ts";

function labelText(labels: Labels): string {
  const keys = Object.keys(labels);
  return keys.length === 0 ? "" : `{${keys.map((k) => `${k}="${labels[k]}"`).join(",")}}`;
}

export class GossipSeries implements Series {
  /** Also counts the meta broadcasts this node made (health-driven metadata updates). */
  constructor(
    private readonly read: () => GossipMetrics | undefined,
    private readonly metaBroadcasts: () => number,
  ) {}

  render(out: string[]): void {
    const m = this.read();
    if (!m) return;
    const counter = (name: string, help: string, rows: [Labels, number][], type = "counter") => {
      out.push(`# HELP clusterclub_gossip_${name} ${help}`, `# TYPE clusterclub_gossip_${name} ${type}`);
      for (const [l, v] of rows) out.push(`clusterclub_gossip_${name}${labelText(l)} ${v}`);
    };
    counter("messages_in_total", "Gossip messages received, by type", Object.entries(m.messagesIn).map(([t, v]) => [{ type: t }, v]));
    counter("messages_out_total", "Gossip messages sent, by type", Object.entries(m.messagesOut).map(([t, v]) => [{ type: t }, v]));
    counter("packets_total", "UDP packets, by direction", [[{ direction: "in" }, m.packetsIn], [{ direction: "out" }, m.packetsOut]]);
    counter("bytes_total", "UDP bytes, by direction", [[{ direction: "in" }, m.bytesIn], [{ direction: "out" }, m.bytesOut]]);
    counter("streams_total", "TCP streams, by direction", [[{ direction: "in" }, m.streamsIn], [{ direction: "out" }, m.streamsOut]]);
    counter("dropped_total", "Packets and streams dropped, by reason", Object.entries(m.dropped).map(([r, v]) => [{ reason: r }, v]));
    counter("probes_total", "Failure-detector probes sent", [[{}, m.probes]]);
    counter("probe_failures_total", "Probes that got no ack", [[{}, m.probeFailures]]);
    counter("suspicions_total", "Suspicions this node entered (raised by its own probes or learnt by gossip)", [[{}, m.suspicionsRaised]]);
    counter("refutations_total", "Times this node refuted a suspicion about itself", [[{}, m.refutations]]);
    counter("pushpulls_total", "State exchanges, by outcome", [[{ outcome: "ok" }, m.pushPulls], [{ outcome: "failed" }, m.pushPullFailures]]);
    counter("meta_broadcasts_total", "Metadata updates this node broadcast (healthy count changes)", [[{}, this.metaBroadcasts()]]);
    counter("health_score", "Lifeguard local health score (0 = healthy)", [[{}, m.healthScore]], "gauge");
    counter(
      "members",
      "Known members by state",
      (["alive", "suspect", "dead", "left"] as const).map((s) => [{ state: s }, m.members[s]]),
      "gauge",
    );
  }
}
