// The /status document: written by the node, served by the admin API, read by the CLI
// (`members`, `status`) and the status page. One declaration, so producer and readers cannot drift.
// statusDoc() writes it from the node's parts; readers import only the types.

import type { Member } from "../cluster/index.ts";
import { decodeNodeMeta } from "../control/nodemeta.ts";
import type { PoolHealth } from "../health/pools.ts";
import type { DataPlane } from "../proxy/dataplane.ts";
import { peerCount } from "../routing/builder.ts";
import type { Router } from "../routing/router.ts";

export interface BackendStatus {
  pool: string;
  address: string;
  healthy: boolean;
  status: string;
  /** ISO time of the last check, or null before the first. */
  last_check: string | null;
  last_error: string | null;
  /** Status code of the last http check (null for tcp checks). */
  last_status: number | null;
  failures: number;
  /** Configured weight; 0 = draining. */
  weight: number;
  /** Taken out by passive outlier detection, and until when (ISO). */
  ejected: boolean;
  ejected_until: string | null;
  ejections: number;
  /** Failed requests within the current passive fail window. */
  recent_failures: number;
}

export interface MemberStatus {
  name: string;
  address: string;
  port: number;
  state: string;
  incarnation: number;
  self: boolean;
  /** What the member publishes (healthy backends of the default pool; how many named pools it lists), or why it cannot be used. */
  meta: { healthy: number; proxy_port: number; pools: number } | { invalid: string };
  /** The routing weight this node gives it, summed over the pools this node knows (its own healthy count for itself). */
  weight: number;
}

/** One pool as this node sees it: its own backends and every member's healthy count for it. */
export interface PoolStatus {
  name: string;
  /** This node's backends for the pool, and how many of them are healthy. */
  backends: number;
  healthy: number;
  /** Backends ejected by passive outlier detection now. */
  ejected: number;
  /** How this node picks among the pool's backends (and, for hash, on what). */
  balance: string;
  hash_key: string | null;
  /** Passive outlier detection for the pool (max_fails 0 = off); null for a pool this node only routes to. */
  passive: { max_fails: number; fail_window_ms: number; ejection_time_ms: number; max_ejected_percent: number } | null;
  /** Healthy backend weight each member publishes for the pool (this node included); the sum is what the cluster has. */
  members: { name: string; healthy: number }[];
}

/** A route, in the order requests are matched ("*" host = any host; the last may be the default pool's catch-all). */
export interface RouteStatus {
  host: string;
  path_prefix: string;
  pool: string;
  strip_prefix: boolean;
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
  /** The node's own process (the primary): the one to send SIGHUP or SIGTERM. */
  pid: number;
  uptime_s: number;
  healthy_backends: number;
  /**
   * The processes serving the proxy port: the worker processes, or (proxy.workers = 1) the node's own
   * process as the only entry, with its pid.
   */
  workers: WorkerStatus[];
  backends: BackendStatus[];
  pools: PoolStatus[];
  routes: RouteStatus[];
  cluster: { address: string; port: number; health_score: number; encrypted: boolean } | null;
  members: MemberStatus[];
}

export interface StatusSources {
  node: string;
  version: string;
  startedAt: number;
  health: PoolHealth;
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
    pid: process.pid,
    uptime_s: Math.round((Date.now() - s.startedAt) / 1000),
    healthy_backends: s.health.healthyTotal,
    workers: s.proxy.workers?.() ?? [{ id: 0, pid: process.pid, restarts: 0, in_flight: s.proxy.inFlight }],
    backends: s.health.backends().map((b) => ({
      pool: b.pool,
      address: b.address,
      healthy: b.status === "up",
      status: b.status,
      last_check: b.lastCheck === null ? null : new Date(b.lastCheck).toISOString(),
      last_error: b.lastError,
      last_status: b.lastStatus,
      failures: b.failures,
      weight: b.weight,
      ejected: b.ejectedUntil !== null,
      ejected_until: b.ejectedUntil === null ? null : new Date(b.ejectedUntil).toISOString(),
      ejections: b.ejections,
      recent_failures: b.recentFailures,
    })),
    pools: poolsStatus(s),
    routes: s.router.routeOrder().map((r) => ({ host: r.host, path_prefix: r.prefix || "/", pool: r.pool, strip_prefix: r.stripPrefix })),
    cluster: s.cluster ? { address: s.cluster.address, port: s.cluster.port, health_score: s.cluster.healthScore(), encrypted: s.encrypted } : null,
    members: s.cluster ? membersStatus(s.node, s.cluster.members(), s.router) : [],
  };
}

/** Members with what they publish and the routing weight this node gives them. */
function membersStatus(self: string, members: Member[], router: Router): MemberStatus[] {
  const pools = router.snapshot.pools.map((p) => router.pool(p.name));
  return members.map((m) => {
    const meta = decodeNodeMeta(m.meta);
    let weight = 0;
    for (const p of pools) weight += p?.weightOf(m.name) ?? 0;
    return {
      name: m.name,
      address: m.address,
      port: m.port,
      state: m.state,
      incarnation: m.incarnation,
      self: m.name === self,
      meta: meta.ok ? { healthy: meta.meta.healthy, proxy_port: meta.meta.proxyPort, pools: meta.meta.pools.size } : { invalid: meta.reason },
      weight,
    };
  });
}

/** Every pool this node knows, with each member's published healthy count for it. */
function poolsStatus(s: StatusSources): PoolStatus[] {
  const members = s.cluster?.members() ?? [];
  return s.router.snapshot.pools.map((p) => {
    const hc = s.health.config(p.name);
    return {
      name: p.name,
      backends: p.backends.length,
      healthy: s.health.healthyCount(p.name),
      ejected: s.health.pool(p.name).filter((b) => b.ejectedUntil !== null).length,
      balance: p.balance,
      hash_key: p.hashKeyText,
      passive: hc === undefined ? null : { max_fails: hc.maxFails, fail_window_ms: hc.failWindowMs, ejection_time_ms: hc.ejectionTimeMs, max_ejected_percent: hc.maxEjectedPercent },
      members:
        members.length === 0
          ? [{ name: s.node, healthy: s.health.healthyWeight(p.name) }]
          : members.map((m) => {
              if (m.name === s.node) return { name: m.name, healthy: s.health.healthyWeight(p.name) };
              const meta = decodeNodeMeta(m.meta);
              return { name: m.name, healthy: meta.ok && m.state === "alive" ? peerCount(meta.meta, p.name) : 0 };
            }),
    };
  });
}
