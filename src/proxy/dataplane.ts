// What the control plane needs from the request path, whether it runs in this process
// (ProxyServer) or in worker processes sharing the port (WorkerPool).

import type { WorkerStatus } from "../admin/status.ts";
import type { ProxyConfig } from "../config/schema.ts";
import type { UsagePort } from "../ratelimit/limiter.ts";
import type { RoutingSnapshot } from "../routing/snapshot.ts";

export interface DataPlane {
  /** The proxy port (known once started). */
  readonly port: number;
  /** The HTTP→HTTPS redirect port, 0 when there is none. */
  readonly redirectPort: number;
  /** Requests being served now, over all processes. */
  readonly inFlight: number;
  /** Open WebSocket tunnels, over all processes. */
  readonly websocketsActive: number;
  start(): Promise<void>;
  /** A new routing snapshot (in-process: already installed in the shared router). */
  publish(snapshot: RoutingSnapshot): void;
  /** Live settings from a reloaded config. */
  setConfig(cfg: ProxyConfig): void;
  /**
   * Its worker processes (pid, restarts, requests in flight), for /status and the start log. Absent
   * when it serves in the node's own process: there is nothing more to say about that one.
   */
  workers?(): WorkerStatus[];
  /** Rate-limit usage for the node's gossip (the in-process limiter, or the workers' relay); absent without [[rate_limits]]. */
  readonly usage?: UsagePort;
  /** Opens the access log file again (SIGUSR1, after logrotate moved it). */
  reopenLogs(): void;
  /** Stops accepting, drains in-flight requests up to `drainMs`, then closes. */
  stop(drainMs: number): Promise<void>;
}
