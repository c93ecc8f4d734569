// The configuration's shape: every key, its kind and its default. The parser (parse.ts) walks this
// table, so adding a key here is all it takes for validation, defaults, --check output and docs to agree.

import { hostname } from "node:os";
import type { TlsConfig } from "./tls.ts";

export type FieldKind =
  | { kind: "port"; allowZero?: boolean }
  | { kind: "string"; nonEmpty?: boolean }
  | { kind: "ip" }
  | { kind: "duration"; minMs?: number; maxMs?: number }
  | { kind: "int"; min: number; max: number }
  | { kind: "bool" }
  | { kind: "enum"; values: string[] }
  | { kind: "hostports" }
  | { kind: "strings" }
  | { kind: "cidrs" };

export interface FieldSpec {
  /** TOML key (snake_case). */
  key: string;
  /** Property on the resolved config (camelCase; durations end in Ms). */
  prop: string;
  type: FieldKind;
  /** undefined = optional with no default. */
  default?: () => unknown;
  doc: string;
}

export interface SectionSpec {
  key: string;
  fields: FieldSpec[];
  /** Sub-tables resolved elsewhere (e.g. [proxy.tls]); not "unknown keys". */
  nested?: string[];
}

const dur = (minMs = 1, maxMs = 24 * 3_600_000): FieldKind => ({ kind: "duration", minMs, maxMs });

export const SECTIONS: SectionSpec[] = [
  {
    key: "cluster",
    fields: [
      { key: "node_name", prop: "nodeName", type: { kind: "string", nonEmpty: true }, default: () => hostname(), doc: "unique, stable name of this node (default: hostname)" },
      { key: "listen_port", prop: "listenPort", type: { kind: "port", allowZero: true }, default: () => 7946, doc: "gossip port, UDP and TCP" },
      { key: "bind_address", prop: "bindAddress", type: { kind: "ip" }, default: () => "0.0.0.0", doc: "address the gossip sockets bind to" },
      { key: "advertise_address", prop: "advertiseAddress", type: { kind: "ip" }, doc: "address peers use to reach this node (default: first non-loopback interface)" },
      { key: "shared_key", prop: "sharedKey", type: { kind: "string", nonEmpty: true }, doc: "passphrase or base64:<16|24|32 bytes>; encrypts and authenticates gossip" },
      { key: "extra_keys", prop: "extraKeys", type: { kind: "strings" }, default: () => [], doc: "further keys accepted for decryption (key rotation)" },
      { key: "peers", prop: "peers", type: { kind: "hostports" }, default: () => [], doc: "seed nodes, \"ip:port\" or \"host:port\"" },
      { key: "probe_interval", prop: "probeIntervalMs", type: dur(10), default: () => 1000, doc: "failure-detector probe period" },
      { key: "probe_timeout", prop: "probeTimeoutMs", type: dur(5), default: () => 500, doc: "time to wait for a direct probe's ack" },
      { key: "gossip_interval", prop: "gossipIntervalMs", type: dur(5), default: () => 200, doc: "period of gossip to random peers" },
      { key: "suspicion_mult", prop: "suspicionMult", type: { kind: "int", min: 1, max: 100 }, default: () => 4, doc: "suspicion timeout multiplier" },
      { key: "pushpull_interval", prop: "pushPullIntervalMs", type: dur(100), default: () => 30_000, doc: "full state sync period" },
      { key: "tls", prop: "tls", type: { kind: "bool" }, default: () => false, doc: "forward to peer nodes over HTTPS (their proxies must terminate TLS)" },
      { key: "tls_ca", prop: "tlsCa", type: { kind: "string", nonEmpty: true }, doc: "CA file (PEM) to verify peers with when tls = true (default: system CAs)" },
    ],
  },
  {
    key: "proxy",
    nested: ["tls"],
    fields: [
      { key: "listen_port", prop: "listenPort", type: { kind: "port", allowZero: true }, default: () => 8080, doc: "HTTP port for clients" },
      { key: "bind_address", prop: "bindAddress", type: { kind: "ip" }, default: () => "0.0.0.0", doc: "address the proxy binds to" },
      { key: "response_timeout", prop: "responseTimeoutMs", type: dur(1), default: () => 60_000, doc: "time to connect to a backend and get its response headers (then 504)" },
      { key: "idle_timeout", prop: "idleTimeoutMs", type: dur(1000, 255_000), default: () => 60_000, doc: "idle client connections are closed after this" },
      { key: "max_body_bytes", prop: "maxBodyBytes", type: { kind: "int", min: 0, max: Number.MAX_SAFE_INTEGER }, default: () => 0, doc: "largest request body accepted, 0 = unlimited (413 above)" },
      { key: "drain_timeout", prop: "drainTimeoutMs", type: dur(0), default: () => 30_000, doc: "on shutdown, time given to in-flight requests" },
      { key: "upstream_client", prop: "upstreamClient", type: { kind: "enum", values: ["pooled", "fetch"] }, default: () => "pooled", doc: "HTTP client to backends and plain-HTTP peers: pooled (ours, keep-alive pool) or fetch (Bun's)" },
      { key: "workers", prop: "workers", type: { kind: "int", min: 0, max: 256 }, default: () => 0, doc: "proxy processes sharing the port (0 = one per core, 1 = the node's own process)" },
    ],
  },
  {
    key: "health",
    fields: [
      { key: "interval", prop: "intervalMs", type: dur(10), default: () => 10_000, doc: "TCP health check period (jittered ±10%)" },
      { key: "timeout", prop: "timeoutMs", type: dur(1), default: () => 1000, doc: "TCP connect timeout of a check" },
      { key: "rise", prop: "rise", type: { kind: "int", min: 1, max: 100 }, default: () => 2, doc: "passes to mark a down backend up" },
      { key: "fall", prop: "fall", type: { kind: "int", min: 1, max: 100 }, default: () => 3, doc: "failures to mark an up backend down" },
    ],
  },
  {
    key: "admin",
    fields: [
      { key: "listen_port", prop: "listenPort", type: { kind: "port", allowZero: true }, default: () => 9901, doc: "admin API port (/health, /status, /metrics)" },
      { key: "bind_address", prop: "bindAddress", type: { kind: "ip" }, default: () => "127.0.0.1", doc: "admin API address; loopback unless you mean it" },
      { key: "allow", prop: "allow", type: { kind: "cidrs" }, default: () => ["127.0.0.0/8", "::1/128"], doc: "source ranges (CIDR) allowed to use the admin API; others get 403" },
    ],
  },
];

export const BACKEND_FIELDS: FieldSpec[] = [
  { key: "address", prop: "address", type: { kind: "string", nonEmpty: true }, doc: "\"host:port\" of a local backend" },
];

export interface ClusterConfig {
  nodeName: string;
  listenPort: number;
  bindAddress: string;
  advertiseAddress?: string;
  sharedKey?: string;
  extraKeys: string[];
  peers: string[];
  probeIntervalMs: number;
  probeTimeoutMs: number;
  gossipIntervalMs: number;
  suspicionMult: number;
  pushPullIntervalMs: number;
  tls: boolean;
  tlsCa?: string;
}

export interface ProxyConfig {
  listenPort: number;
  bindAddress: string;
  responseTimeoutMs: number;
  idleTimeoutMs: number;
  maxBodyBytes: number;
  drainTimeoutMs: number;
  /** "pooled": our HTTP/1.1 client with keep-alive pools; "fetch": Bun's fetch. */
  upstreamClient: "pooled" | "fetch";
  /** Proxy processes; 0 = one per core, 1 = in the node's own process. */
  workers: number;
  /** [proxy.tls]: terminate TLS on the proxy listener. */
  tls?: TlsConfig;
}

export interface HealthConfig {
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
}

export interface AdminConfig {
  listenPort: number;
  bindAddress: string;
  /** CIDR ranges whose connections may use the admin API. */
  allow: string[];
}

export interface BackendConfig {
  /** As written: "host:port". */
  address: string;
  host: string;
  port: number;
}

export interface Config {
  cluster: ClusterConfig;
  proxy: ProxyConfig;
  health: HealthConfig;
  admin: AdminConfig;
  backends: BackendConfig[];
}
