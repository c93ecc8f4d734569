// The /status document: written by the node, served by the admin API, read by the CLI
// (`members`, `status`) and the status page. One declaration, so producer and readers cannot drift.
// statusDoc() writes it from the node's parts; readers import only the types.

import type { Member } from "../cluster/index.ts";
import { decodeNodeMeta } from "../control/nodemeta.ts";
import type { HealthChecker } from "../health/checker.ts";
import type { DataPlane } from "../proxy/dataplane.ts";
import type { Router } from "../routing/router.ts";

export interface BackendStatus {
  address: string;
  healthy: boolean;
  status: string;
  /** ISO time of the last check, or null before the first. */
  last_check: string | null;
  last_error: string | null;
  failures: number;
}

export interface MemberStatus {
  name: string;
  address: string;
  port: number;
  state: string;
  incarnation: number;
  self: boolean;
  /** What the member publishes, or why it cannot be used (it then gets no traffic). */
  meta: { healthy: number; proxy_port: number } | { invalid: string };
  /** The routing weight this node gives it (its own healthy count for itself). */
  weight: number;
}

export interface WorkerStatus {
  id: number;
  pid: number | null;
  restarts: number;
  in_flight: number;
}

export interface StatusDoc {
  node: string;
  version: string;
  uptime_s: number;
  healthy_backends: number;
  /** Proxy worker processes, or null when the proxy runs in the node's own process. */
  workers: WorkerStatus[] | null;
  backends: BackendStatus[];
  cluster: { address: string; port: number; health_score: number; encrypted: boolean } | null;
  members: MemberStatus[];
}

export interface StatusSources {
  node: string;
  version: string;
  startedAt: number;
  health: HealthChecker;
  proxy: DataPlane;
  router: Router;
  /** Undefined until the node has joined. */
  cluster: { address: string; port: number; healthScore(): number; members(): Member[] } | undefined;
  encrypted: boolean;
}

export function statusDoc(s: StatusSources): StatusDoc {
  return {
    node: s.node,
    version: s.version,
    uptime_s: Math.round((Date.now() - s.startedAt) / 1000),
    healthy_backends: s.health.healthyCount,
    workers: s.proxy.workers?.() ?? null,
    backends: s.health.backends().map((b) => ({
      address: b.address,
      healthy: b.status === "up",
      status: b.status,
      last_check: b.lastCheck === null ? null : new Date(b.lastCheck).toISOString(),
      last_error: b.lastError,
      failures: b.failures,
    })),
    cluster: s.cluster ? { address: s.cluster.address, port: s.cluster.port, health_score: s.cluster.healthScore(), encrypted: s.encrypted } : null,
    members: s.cluster ? membersStatus(s.node, s.cluster.members(), s.router) : [],
  };
}

/** Members with their published healthy count and the routing weight this node gives them. */
function membersStatus(self: string, members: Member[], router: Router): MemberStatus[] {
  const weights = new Map(router.snapshot.peers.map((p) => [p.name, p.weight]));
  return members.map((m) => {
    const isSelf = m.name === self;
    const meta = decodeNodeMeta(m.meta);
    return {
      name: m.name,
      address: m.address,
      port: m.port,
      state: m.state,
      incarnation: m.incarnation,
      self: isSelf,
      meta: meta.ok ? { healthy: meta.meta.healthy, proxy_port: meta.meta.proxyPort } : { invalid: meta.reason },
      weight: isSelf ? router.healthyCount : (weights.get(m.name) ?? 0),
    };
  });
}
