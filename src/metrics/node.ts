// The node's series besides the proxy's own: backend health, open WebSocket tunnels, gossip.

import type { GossipMetrics } from "../cluster/index.ts";
import type { HealthChecker } from "../health/checker.ts";
import type { DataPlane } from "../proxy/dataplane.ts";
import type { ProxyStats } from "../proxy/stats.ts";
import { GossipSeries } from "./gossip.ts";
import { CallbackGauge, Counter, type Registry } from "./index.ts";

export interface NodeSeriesSources {
  health: HealthChecker;
  stats: ProxyStats;
  proxy: DataPlane;
  /** Undefined until the node has joined. */
  gossip(): GossipMetrics | undefined;
  metaBroadcasts(): number;
}

export function registerNodeMetrics(registry: Registry, s: NodeSeriesSources): void {
  const transitions = new Counter("clusterclub_health_transitions_total", "Backend health transitions by backend and new state");
  s.health.onChange((c) => transitions.inc({ backend: c.backend.address, to: c.to }));
  s.stats.register(registry);
  registry.add(transitions);
  registry.add(
    new CallbackGauge("clusterclub_backend_healthy", "1 when the backend is healthy", () =>
      s.health.backends().map((b) => ({ labels: { backend: b.address }, value: b.status === "up" ? 1 : 0 })),
    ),
  );
  registry.add(new CallbackGauge("clusterclub_healthy_backends", "Healthy local backends", () => [{ labels: {}, value: s.health.healthyCount }]));
  registry.add(new GossipSeries(s.gossip, s.metaBroadcasts));
  registry.add(new CallbackGauge("clusterclub_websockets_open", "Open WebSocket tunnels", () => [{ labels: {}, value: s.proxy.websocketsActive }]));
}
