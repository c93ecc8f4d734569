// Rate limiting's Prometheus series (clusterclub_ratelimit_*), read at scrape time.

import { type Registry, type Series, writeFamily } from "../metrics/index.ts";
import type { UsageGossip } from "./gossip.ts";
import type { UsagePort } from "./limiter.ts";

class RateLimitSeries implements Series {
  constructor(
    private readonly port: UsagePort,
    private readonly gossip: UsageGossip | undefined,
  ) {}

  render(out: string[]): void {
    const p = this.port;
    const one = (name: string, help: string, value: number, type: "counter" | "gauge" = "counter") =>
      writeFamily(out, `clusterclub_ratelimit_${name}`, help, type, [{ labels: {}, value }]);
    writeFamily(
      out,
      "clusterclub_ratelimit_limited_total",
      "Requests refused with 429, by limit (workers' refusals included)",
      "counter",
      p.limits.map((l) => ({ labels: { limit: l.cfg.name }, value: l.limited })),
    );
    one("keys", "Buckets tracked (at most proxy.rate_limits_max_keys)", p.table.size, "gauge");
    one("evictions_total", "Buckets forgotten to stay within proxy.rate_limits_max_keys (least recently used first)", p.table.evictions);
    const g = this.gossip?.stats;
    if (!g) return;
    writeFamily(out, "clusterclub_ratelimit_gossip_messages_total", "Usage messages (gossip and push/pull), by direction", "counter", [
      { labels: { direction: "out" }, value: g.messagesOut },
      { labels: { direction: "in" }, value: g.messagesIn },
    ]);
    one("gossip_bytes_out_total", "Usage bytes piggybacked on gossip (at most cluster.rate_limit_gossip_bytes per second)", g.bytesOut);
    one("gossip_capped_total", "Gossip packets that carried no usage because the byte budget was spent", g.capped);
    one("gossip_malformed_total", "Usage messages dropped as malformed", g.malformed);
    one("charged_total", "Requests admitted by other nodes, charged to this node's buckets", g.charged);
    one("resyncs_total", "Nodes heard again after a silence (their counts restart, uncharged)", g.resyncs);
  }
}

export function registerRateLimitMetrics(registry: Registry, port: UsagePort, gossip: UsageGossip | undefined): void {
  registry.add(new RateLimitSeries(port, gossip));
}
