// The /status document: written by the node, served by the admin API, read by the CLI
// (`members`, `status`) and the status page. One declaration, so producer and readers cannot drift.

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
