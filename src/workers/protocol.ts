// Messages between the primary (control plane) and its proxy worker processes, over Bun's IPC.
// All plain data: the routing snapshot is designed to cross this boundary whole.

import type { ProxyConfig } from "../config/schema.ts";
import type { LogFormat, LogLevel } from "../log.ts";
import type { PeerTls } from "../proxy/forward.ts";
import type { StatsDump } from "../proxy/stats.ts";
import type { RoutingSnapshot } from "../routing/snapshot.ts";

export interface WorkerInit {
  id: number;
  cfg: ProxyConfig;
  nodeName: string;
  retryAfterS: number;
  peerTls?: PeerTls;
  peerConnectTimeoutMs: number;
  snapshot: RoutingSnapshot;
  log: { level: LogLevel; format: LogFormat };
}

export type ToWorker =
  | { t: "init"; init: WorkerInit }
  | { t: "snapshot"; snapshot: RoutingSnapshot }
  | { t: "config"; cfg: ProxyConfig }
  | { t: "stop"; drainMs: number };

export type FromWorker =
  | { t: "ready"; port: number; redirectPort: number }
  | { t: "passive"; pool: string; address: string; code: string }
  | { t: "stats"; dump: StatsDump; websockets: number }
  | { t: "stopped"; dump: StatsDump };
