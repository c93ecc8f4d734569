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
  const ejections = new Counter("clusterclub_backend_ejections_total", "Backends ejected by passive outlier detection (a failed confirming check after max_fails), by pool and backend");
  s.health.onChange((c) => {
    if (c.reason === "ejected") ejections.inc({ pool: c.pool, backend: c.backend.address });
    else if (c.reason !== "returned") transitions.inc({ pool: c.pool, backend: c.backend.address, to: c.to });
  });
  s.stats.register(registry);
  registry.add(transitions);
  registry.add(ejections);
  registry.add(
    new CallbackGauge("clusterclub_backend_ejected", "1 while passive outlier detection keeps the backend out", () =>
      s.health.backends().map((b) => ({ labels: { pool: b.pool, backend: b.address }, value: b.ejectedUntil === null ? 0 : 1 })),
    ),
  );
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
  registry.add(
    new CallbackGauge("clusterclub_backend_last_check_status", "Status code of the backend's last http check (absent for tcp checks)", () =>
      s.health.backends().flatMap((b) => (b.lastStatus === null ? [] : [{ labels: { pool: b.pool, backend: b.address }, value: b.lastStatus }])),
    ),
  );
  registry.add(new GossipSeries(s.gossip, s.metaBroadcasts));
  registry.add(new CallbackGauge("clusterclub_websockets_open", "Open WebSocket tunnels", () => [{ labels: {}, value: s.proxy.websocketsActive }]));
}
