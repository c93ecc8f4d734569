// Which data plane a node runs: the proxy in the node's own process (workers = 1), or N worker
// processes sharing the port. Both read the same routing snapshots and report the same way.

import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import type { Config } from "../config/schema.ts";
import { currentLogging, type Logger } from "../log.ts";
import type { DataPlane } from "../proxy/dataplane.ts";
import { ProxyServer } from "../proxy/server.ts";
import { RateLimiter } from "../ratelimit/limiter.ts";
import type { ProxyStats } from "../proxy/stats.ts";
import type { Router } from "../routing/router.ts";
import type { TimingWheel } from "../timer/wheel.ts";
import { WorkerPool } from "./pool.ts";
import { USAGE_EVERY_MS } from "./usage.ts";

/** `proxy.workers`: 0 means one per core. */
function resolveWorkers(configured: number): number {
  return configured > 0 ? configured : Math.max(1, availableParallelism());
}

export interface DataPlaneDeps {
  /** The in-process proxy reads it; workers get every snapshot by message instead. */
  router: Router;
  stats: ProxyStats;
  wheel: TimingWheel;
  log: Logger;
  /** Passive health: a local backend refused or could not be reached. */
  onConnectFailure(pool: string, address: string, code: string): void;
  /** Passive outlier evidence: `count` failed requests to a local backend of `pool`. */
  onFailureEvidence(pool: string, address: string, count: number): void;
}

export function createDataPlane(config: Config, d: DataPlaneDeps): DataPlane {
  // Clients are told to retry about when the next health check may have found a backend.
  const retryAfterS = Math.min(30, Math.max(1, Math.ceil(config.health.intervalMs / 1000)));
  const peerTls = config.cluster.tls ? { ca: config.cluster.tlsCa ? readFileSync(config.cluster.tlsCa, "utf8") : undefined } : undefined;
  // A silent peer is given about two probe timeouts to accept, then the next node is tried.
  const peerConnectTimeoutMs = Math.max(200, 2 * config.cluster.probeTimeoutMs);
  const accessLog = { access: config.log.access, format: config.log.accessFormat };
  const common = { cfg: config.proxy, nodeName: config.cluster.nodeName, retryAfterS, peerTls, peerConnectTimeoutMs, accessLog };
  const workers = resolveWorkers(config.proxy.workers);
  // An admission elsewhere reaches this process within about a gossip round (plus, in a worker, the
  // report to the primary and the relay back), and is charged as of then.
  const chargeLagMs = config.cluster.gossipIntervalMs + 10 + (workers > 1 ? 2 * USAGE_EVERY_MS : 0);
  if (workers > 1) {
    return new WorkerPool({
      count: workers,
      init: { ...common, log: currentLogging(), rateLimits: config.rateLimits, chargeLagMs },
      stats: d.stats,
      log: d.log.child("workers"),
      onPassiveFailure: d.onConnectFailure,
      onFailureEvidence: d.onFailureEvidence,
    });
  }
  const limiter = config.rateLimits.length > 0 ? new RateLimiter(config.rateLimits, { maxKeys: config.proxy.rateLimitsMaxKeys, report: "cluster", chargeLagMs }) : undefined;
  return new ProxyServer({ ...common, router: d.router, stats: d.stats, wheel: d.wheel, log: d.log.child("proxy"), onConnectFailure: d.onConnectFailure, onFailureEvidence: (pool, a) => d.onFailureEvidence(pool, a, 1), limiter });
}
