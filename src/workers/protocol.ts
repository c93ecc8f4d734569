// Messages between the primary (control plane) and its proxy worker processes, over Bun's IPC.
// All plain data: the routing snapshot is designed to cross this boundary whole.

import type { AccessLogConfig } from "../accesslog/index.ts";
import type { ProxyConfig, RateLimitConfig } from "../config/schema.ts";
import type { LogFormat, LogLevel } from "../log.ts";
import type { PeerTls } from "../proxy/forward.ts";
import type { StatsDump } from "../proxy/stats.ts";
import type { RoutingSnapshot } from "../routing/snapshot.ts";
import type { UsageTriplets } from "./usage.ts";

export interface WorkerInit {
  id: number;
  cfg: ProxyConfig;
  nodeName: string;
  retryAfterS: number;
  peerTls?: PeerTls;
  peerConnectTimeoutMs: number;
  snapshot: RoutingSnapshot;
  accessLog?: AccessLogConfig;
  log: { level: LogLevel; format: LogFormat };
  /** [[rate_limits]]; usage is exchanged with the primary (usage.ts). */
  rateLimits: RateLimitConfig[];
  chargeLagMs: number;
}

export type ToWorker =
  | { t: "init"; init: WorkerInit }
  | { t: "snapshot"; snapshot: RoutingSnapshot }
  | { t: "config"; cfg: ProxyConfig }
  | { t: "usage"; u: UsageTriplets }
  /** SIGUSR1 reached the primary: open the access log file again. */
  | { t: "reopen" }
  | { t: "stop"; drainMs: number };

export type FromWorker =
  | { t: "ready"; port: number; redirectPort: number }
  | { t: "passive"; pool: string; address: string; code: string }
  /** Failed requests per pool and backend address since the last message (passive outlier evidence, batched). */
  | { t: "failures"; counts: [pool: string, address: string, n: number][] }
  | { t: "stats"; dump: StatsDump; websockets: number }
  /** Admissions since the last report, and requests refused per limit (by index) since then. */
  | { t: "usage"; u: UsageTriplets; limited: number[] }
  | { t: "stopped"; dump: StatsDump };
