// The gossip engine's counters as ClusterClub's Prometheus series (clusterclub_gossip_*), read at scrape time.

import type { GossipMetrics } from "../cluster/index.ts";
import { type Labels, type Series, type SeriesType, writeFamily } from "./index.ts";

export class GossipSeries implements Series {
  /** Also counts the meta broadcasts this node made (health-driven metadata updates). */
  constructor(
    private readonly read: () => GossipMetrics | undefined,
    private readonly metaBroadcasts: () => number,
  ) {}

  render(out: string[]): void {
    const m = this.read();
    if (!m) return;
    const family = (name: string, help: string, rows: [Labels, number][], type: SeriesType = "counter") =>
      writeFamily(
        out,
        `clusterclub_gossip_${name}`,
        help,
        type,
        rows.map(([labels, value]) => ({ labels, value })),
      );
    family("messages_in_total", "Gossip messages received, by type", Object.entries(m.messagesIn).map(([t, v]) => [{ type: t }, v]));
    family("messages_out_total", "Gossip messages sent, by type", Object.entries(m.messagesOut).map(([t, v]) => [{ type: t }, v]));
    family("packets_total", "UDP packets, by direction", [[{ direction: "in" }, m.packetsIn], [{ direction: "out" }, m.packetsOut]]);
    family("bytes_total", "UDP bytes, by direction", [[{ direction: "in" }, m.bytesIn], [{ direction: "out" }, m.bytesOut]]);
    family("streams_total", "TCP streams, by direction", [[{ direction: "in" }, m.streamsIn], [{ direction: "out" }, m.streamsOut]]);
    family("dropped_total", "Packets and streams dropped, by reason", Object.entries(m.dropped).map(([r, v]) => [{ reason: r }, v]));
    family("probes_total", "Failure-detector probes sent", [[{}, m.probes]]);
    family("probe_failures_total", "Probes that got no ack", [[{}, m.probeFailures]]);
    family("suspicions_total", "Suspicions this node entered (raised by its own probes or learnt by gossip)", [[{}, m.suspicionsRaised]]);
    family("refutations_total", "Times this node refuted a suspicion about itself", [[{}, m.refutations]]);
    family("pushpulls_total", "State exchanges, by outcome", [[{ outcome: "ok" }, m.pushPulls], [{ outcome: "failed" }, m.pushPullFailures]]);
    family("meta_broadcasts_total", "Metadata updates this node broadcast (healthy count changes)", [[{}, this.metaBroadcasts()]]);
    family("health_score", "Lifeguard local health score (0 = healthy)", [[{}, m.healthScore]], "gauge");
    family(
      "members",
      "Known members by state",
      (["alive", "suspect", "dead", "left"] as const).map((s) => [{ state: s }, m.members[s]]),
      "gauge",
    );
  }
}
