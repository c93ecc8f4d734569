// The node's series besides the proxy's own: backend health, open WebSocket tunnels, gossip.

import type { GossipMetrics } from "../cluster/index.ts";
import type { PoolHealth } from "../health/pools.ts";
import type { DataPlane } from "../proxy/dataplane.ts";
import type { ProxyStats } from "../proxy/stats.ts";
import { GossipSeries } from "./gossip.ts";
import { CallbackGauge, Counter, type Registry } from "./index.ts";

export interface NodeSeriesSources {
  health: PoolHealth;
  stats: ProxyStats;
  proxy: DataPlane;
  /** Undefined until the node has joined. */
  gossip(): GossipMetrics | undefined;
  metaBroadcasts(): number;
}

export function registerNodeMetrics(registry: Registry, s: NodeSeriesSources): void {
  const transitions = new Counter("clusterclub_health_transitions_total", "Backend health transitions by pool, backend and new state");
  s.health.onChange((c) => transitions.inc({ pool: c.pool, backend: c.backend.address, to: c.to }));
  s.stats.register(registry);
  registry.add(transitions);
  registry.add(
    new CallbackGauge("clusterclub_backend_healthy", "1 when the backend is healthy", () =>
      s.health.backends().map((b) => ({ labels: { pool: b.pool, backend: b.address }, value: b.status === "up" ? 1 : 0 })),
    ),
  );
  registry.add(
    new CallbackGauge("clusterclub_healthy_backends", "Healthy local backends by pool", () =>
      s.health.names().map((pool) => ({ labels: { pool }, value: s.health.healthyCount(pool) })),
    ),
  );
  registry.add(new GossipSeries(s.gossip, s.metaBroadcasts));
  registry.add(new CallbackGauge("clusterclub_websockets_open", "Open WebSocket tunnels", () => [{ labels: {}, value: s.proxy.websocketsActive }]));
}
