// The configuration's shape: every key, its kind, its default, how a reload applies it and whether it is
// a secret. The parser (parse.ts), --check and the reload (reload.ts) walk this table, so adding a key
// here is all it takes for validation, defaults, --check output and reload to agree.

import { hostname } from "node:os";
import type { BalancePolicy } from "../routing/balance/policy.ts";
import type { TlsConfig } from "./tls.ts";

export type FieldKind =
  | { kind: "port"; allowZero?: boolean }
  | { kind: "string"; nonEmpty?: boolean }
  | { kind: "ip" }
  | { kind: "duration"; minMs?: number; maxMs?: number }
  | { kind: "int"; min: number; max: number }
  | { kind: "bool" }
  | { kind: "enum"; values: readonly string[] }
  | { kind: "hostports" }
  | { kind: "strings" }
  | { kind: "cidrs" };

/** The kinds that can fill a property of type V (an enum lists exactly V's values). */
type KindFor<V> = [V] extends [boolean]
  ? Extract<FieldKind, { kind: "bool" }>
  : [V] extends [number]
    ? Extract<FieldKind, { kind: "port" | "duration" | "int" }>
    : [V] extends [string[]]
      ? Extract<FieldKind, { kind: "hostports" | "strings" | "cidrs" }>
      : [string] extends [V]
        ? Extract<FieldKind, { kind: "string" | "ip" }>
        : { kind: "enum"; values: readonly (V & string)[] };

/**
 * How a changed key takes effect on reload (SIGHUP, --watch):
 * - live: in force at once;
 * - restart: bound to an open socket or fixed at start; the old value stays until a restart;
 * - keyring: live when gossip was encrypted from the start (key rotation), otherwise restart.
 */
export type ReloadRule = "live" | "restart" | "keyring";

export interface FieldSpec<V> {
  /** TOML key (snake_case). */
  key: string;
  type: KindFor<V>;
  /** Neither default nor required: optional, unset when absent. */
  default?: () => V;
  /** Absent is an error. */
  required?: true;
  doc: string;
  reload: ReloadRule;
  /** Never printed (--check shows "<redacted>"). */
  secret?: true;
}

/** A field as the parser walks it, whatever property it fills. */
export interface AnyField {
  key: string;
  type: FieldKind;
  default?: () => unknown;
  required?: true;
  doc: string;
  reload: ReloadRule;
  secret?: true;
}

/**
 * One entry per property of T, named by the property (camelCase; durations end in Ms): a missing,
 * extra or mistyped entry does not compile. A property that may not be unset needs a default or `required`.
 */
export type Fields<T> = {
  [K in keyof T]-?: undefined extends T[K]
    ? FieldSpec<Exclude<T[K], undefined>>
    : FieldSpec<T[K]> & ({ default: () => T[K] } | { required: true });
};

export interface SectionSpec<T> {
  /** TOML table name. */
  key: string;
  fields: Fields<T>;
  /** Sub-tables resolved elsewhere (e.g. [proxy.tls]), with their reload rule; not "unknown keys". */
  nested?: Record<string, ReloadRule>;
}

const dur = (minMs = 1, maxMs = 24 * 3_600_000) => ({ kind: "duration", minMs, maxMs }) as const;

/** The sections' properties that come from their table's own keys ([proxy.tls] is resolved in tls.ts). */
export interface SectionTypes {
  cluster: ClusterConfig;
  proxy: Omit<ProxyConfig, "tls">;
  health: HealthConfig;
  admin: AdminConfig;
  log: LogConfig;
}

export const SCHEMA: { [S in keyof SectionTypes]: SectionSpec<SectionTypes[S]> } = {
  cluster: {
    key: "cluster",
    fields: {
      nodeName: { key: "node_name", type: { kind: "string", nonEmpty: true }, default: () => hostname(), reload: "restart", doc: "unique, stable name of this node (default: hostname)" },
      listenPort: { key: "listen_port", type: { kind: "port", allowZero: true }, default: () => 7946, reload: "restart", doc: "gossip port, UDP and TCP" },
      bindAddress: { key: "bind_address", type: { kind: "ip" }, default: () => "0.0.0.0", reload: "restart", doc: "address the gossip sockets bind to" },
      advertiseAddress: { key: "advertise_address", type: { kind: "ip" }, reload: "restart", doc: "address peers use to reach this node (default: first non-loopback interface)" },
      sharedKey: { key: "shared_key", type: { kind: "string", nonEmpty: true }, reload: "keyring", secret: true, doc: "passphrase or base64:<16|24|32 bytes>; encrypts and authenticates gossip" },
      sharedKeyFile: { key: "shared_key_file", type: { kind: "string", nonEmpty: true }, reload: "keyring", doc: "file holding shared_key (e.g. a mounted Kubernetes Secret), read at start and on every reload" },
      extraKeys: { key: "extra_keys", type: { kind: "strings" }, default: () => [], reload: "keyring", secret: true, doc: "further keys accepted for decryption (key rotation)" },
      peers: { key: "peers", type: { kind: "hostports" }, default: () => [], reload: "live", doc: "seed nodes, \"ip:port\" or \"host:port\"" },
      probeIntervalMs: { key: "probe_interval", type: dur(10), default: () => 1000, reload: "restart", doc: "failure-detector probe period" },
      probeTimeoutMs: { key: "probe_timeout", type: dur(5), default: () => 500, reload: "restart", doc: "time to wait for a direct probe's ack" },
      gossipIntervalMs: { key: "gossip_interval", type: dur(5), default: () => 200, reload: "restart", doc: "period of gossip to random peers" },
      suspicionMult: { key: "suspicion_mult", type: { kind: "int", min: 1, max: 100 }, default: () => 4, reload: "restart", doc: "suspicion timeout multiplier" },
      pushPullIntervalMs: { key: "pushpull_interval", type: dur(100), default: () => 30_000, reload: "restart", doc: "full state sync period" },
      tls: { key: "tls", type: { kind: "bool" }, default: () => false, reload: "restart", doc: "forward to peer nodes over HTTPS (their proxies must terminate TLS)" },
      tlsCa: { key: "tls_ca", type: { kind: "string", nonEmpty: true }, reload: "restart", doc: "CA file (PEM) to verify peers with when tls = true (default: system CAs)" },
      rateLimitGossipBytes: { key: "rate_limit_gossip_bytes", type: { kind: "int", min: 1024, max: 100 * 1024 * 1024 }, default: () => 65_536, reload: "restart", doc: "rate-limit usage gossip: bytes per second this node may send at most" },
    },
  },
  proxy: {
    key: "proxy",
    nested: { tls: "restart" },
    fields: {
      listenPort: { key: "listen_port", type: { kind: "port", allowZero: true }, default: () => 8080, reload: "restart", doc: "HTTP port for clients" },
      bindAddress: { key: "bind_address", type: { kind: "ip" }, default: () => "0.0.0.0", reload: "restart", doc: "address the proxy binds to" },
      responseTimeoutMs: { key: "response_timeout", type: dur(1), default: () => 60_000, reload: "live", doc: "time to connect to a backend and get its response headers (then 504)" },
      idleTimeoutMs: { key: "idle_timeout", type: dur(1000, 255_000), default: () => 60_000, reload: "restart", doc: "idle client connections are closed after this" },
      maxBodyBytes: { key: "max_body_bytes", type: { kind: "int", min: 0, max: Number.MAX_SAFE_INTEGER }, default: () => 0, reload: "restart", doc: "largest request body accepted, 0 = unlimited (413 above)" },
      drainTimeoutMs: { key: "drain_timeout", type: dur(0), default: () => 30_000, reload: "live", doc: "on shutdown, time given to in-flight requests" },
      upstreamClient: { key: "upstream_client", type: { kind: "enum", values: ["pooled", "fetch"] }, default: () => "pooled", reload: "restart", doc: "HTTP client to backends and plain-HTTP peers: pooled (ours, keep-alive pool) or fetch (Bun's)" },
      workers: { key: "workers", type: { kind: "int", min: 0, max: 256 }, default: () => 0, reload: "restart", doc: "proxy processes sharing the port (0 = one per core, 1 = the node's own process)" },
      http2: { key: "http2", type: { kind: "bool" }, default: () => true, reload: "restart", doc: "serve HTTP/2 to clients: ALPN h2 with [proxy.tls], prior knowledge (h2c) without; false = HTTP/1.1 only" },
      rateLimitsMaxKeys: { key: "rate_limits_max_keys", type: { kind: "int", min: 100, max: 10_000_000 }, default: () => 100_000, reload: "restart", doc: "rate-limit keys tracked per process at most; the least recently used is forgotten first" },
      balance: {
        key: "balance",
        type: { kind: "enum", values: ["round_robin", "least_conn", "p2c_ewma", "hash"] },
        default: () => "round_robin",
        reload: "live",
        doc: "how a node picks among its backends: round_robin (smooth weighted) | least_conn | p2c_ewma | hash",
      },
      hashKey: { key: "hash_key", type: { kind: "string", nonEmpty: true }, default: () => "ip", reload: "live", doc: 'with balance = "hash": "ip" | "header:<name>" | "cookie:<name>"' },
    },
  },
  health: {
    key: "health",
    fields: {
      intervalMs: { key: "interval", type: dur(10), default: () => 10_000, reload: "live", doc: "health check period (jittered ±10%)" },
      timeoutMs: { key: "timeout", type: dur(1), default: () => 1000, reload: "live", doc: "time a check may take (connect, and for http the status line)" },
      type: { key: "type", type: { kind: "enum", values: ["tcp", "http"] }, default: () => "tcp", reload: "live", doc: "tcp: the connection opens; http: GET `path` answers a status in `expect`" },
      path: { key: "path", type: { kind: "string", nonEmpty: true }, default: () => "/", reload: "live", doc: "http check: path (and query) to GET" },
      expect: { key: "expect", type: { kind: "string", nonEmpty: true }, default: () => "200-399", reload: "live", doc: 'http check: passing statuses, "200-399" or "200"' },
      host: { key: "host", type: { kind: "string", nonEmpty: true }, reload: "live", doc: "http check: Host header (default: the backend address)" },
      rise: { key: "rise", type: { kind: "int", min: 1, max: 100 }, default: () => 2, reload: "live", doc: "passes to mark a down backend up" },
      fall: { key: "fall", type: { kind: "int", min: 1, max: 100 }, default: () => 3, reload: "live", doc: "failures to mark an up backend down" },
      maxFails: { key: "max_fails", type: { kind: "int", min: 0, max: 10_000 }, default: () => 0, reload: "live", doc: "passive: failed requests (reset, timeout, 502/503/504) within fail_window that trigger a confirming check; 0 = off" },
      failWindowMs: { key: "fail_window", type: dur(100), default: () => 10_000, reload: "live", doc: "passive: window in which max_fails failures count" },
      ejectionTimeMs: { key: "ejection_time", type: dur(100), default: () => 30_000, reload: "live", doc: "passive: how long a confirmed outlier gets no requests" },
      maxEjectedPercent: { key: "max_ejected_percent", type: { kind: "int", min: 0, max: 100 }, default: () => 50, reload: "live", doc: "passive: never eject more than this share of the backends (rounded down)" },
    },
  },
  admin: {
    key: "admin",
    fields: {
      listenPort: { key: "listen_port", type: { kind: "port", allowZero: true }, default: () => 9901, reload: "restart", doc: "admin API port (/health, /status, /metrics)" },
      bindAddress: { key: "bind_address", type: { kind: "ip" }, default: () => "127.0.0.1", reload: "restart", doc: "admin API address; loopback unless you mean it" },
      allow: { key: "allow", type: { kind: "cidrs" }, default: () => ["127.0.0.0/8", "::1/128"], reload: "restart", doc: "source ranges (CIDR) allowed to use the admin API; others get 403" },
    },
  },
  log: {
    key: "log",
    fields: {
      access: { key: "access", type: { kind: "string", nonEmpty: true }, default: () => "off", reload: "restart", doc: 'access log: "off", "stdout" or a file path (appended to; SIGUSR1 reopens it)' },
      accessFormat: { key: "access_format", type: { kind: "enum", values: ["json", "combined"] }, default: () => "json", reload: "restart", doc: "access log lines: json (one object per line) or combined (nginx/Apache, ClusterClub fields appended)" },
    },
  },
};

/** What a [[backends]] table holds; host and port are derived from the address. */
export type BackendEntry = Pick<BackendConfig, "address" | "weight">;

export const BACKENDS: { key: "backends"; reload: ReloadRule; fields: Fields<BackendEntry> } = {
  key: "backends",
  // Added backends are checked before they get traffic; removed ones finish their requests.
  reload: "live",
  fields: {
    address: { key: "address", type: { kind: "string", nonEmpty: true }, required: true, reload: "live", doc: "\"host:port\" of a local backend" },
    weight: { key: "weight", type: { kind: "int", min: 0, max: 1000 }, default: () => 1, reload: "live", doc: "share of requests relative to the others; 0 = drain (no new requests, in-flight ones finish)" },
  },
};

/** [health] keys a pool may override in [pools.health] (checks) and [pools.passive] (outlier detection). */
export const ACTIVE_HEALTH_KEYS = ["type", "path", "expect", "host", "intervalMs", "timeoutMs", "rise", "fall"] as const satisfies readonly (keyof HealthConfig)[];
export const PASSIVE_KEYS = ["maxFails", "failWindowMs", "ejectionTimeMs", "maxEjectedPercent"] as const satisfies readonly (keyof HealthConfig)[];

/** Pools are named across the cluster by this name; its hash keys the gossip metadata (nodemeta.ts). */
export const POOL_NAME_MAX = 32;
/** What one node's gossip metadata can carry (512 bytes: see control/nodemeta.ts). */
export const MAX_POOLS = 64;
/** The top-level [[backends]]: the pool every request no route matches goes to. */
export const DEFAULT_POOL = "default";

/** A [[pools]] table's own keys; its [[pools.backends]] are resolved like the top-level ones. */
export type PoolEntry = Pick<PoolConfig, "name" | "balance" | "hashKey">;

export const POOLS: { key: "pools"; reload: ReloadRule; fields: Fields<PoolEntry> } = {
  key: "pools",
  // Like backends: added pools are checked before they get traffic, removed ones finish their requests.
  reload: "live",
  fields: {
    name: { key: "name", type: { kind: "string", nonEmpty: true }, required: true, reload: "live", doc: `the service's name across the cluster (1–${POOL_NAME_MAX} of a-z 0-9 . _ -)` },
    balance: { ...SCHEMA.proxy.fields.balance, doc: "how this node picks among the pool's backends (like proxy.balance)" },
    hashKey: { ...SCHEMA.proxy.fields.hashKey, doc: 'with balance = "hash": "ip" | "header:<name>" | "cookie:<name>"' },
  },
};

export const ROUTES: { key: "routes"; reload: ReloadRule; fields: Fields<RouteConfig> } = {
  key: "routes",
  reload: "live",
  fields: {
    host: { key: "host", type: { kind: "string", nonEmpty: true }, reload: "live", doc: 'exact host ("api.example.com") or wildcard ("*.example.com"); omitted = any host' },
    pathPrefix: { key: "path_prefix", type: { kind: "string", nonEmpty: true }, default: () => "/", reload: "live", doc: 'path prefix, matched on segment boundaries ("/v1" matches /v1 and /v1/x, not /v10)' },
    pool: { key: "pool", type: { kind: "string", nonEmpty: true }, required: true, reload: "live", doc: "pool that serves the route (it may have backends on other nodes only)" },
    stripPrefix: { key: "strip_prefix", type: { kind: "bool" }, default: () => false, reload: "live", doc: "the backend sees the path without the prefix" },
  },
};

/** What a [[rate_limits]] table holds as written; `key` is parsed into a RateLimitKey. */
export interface RateLimitEntry {
  name: string;
  key: string;
  rate: number;
  burst?: number;
  scope: "cluster" | "node";
  pool?: string;
}

export const RATE_LIMITS: { key: "rate_limits"; reload: ReloadRule; fields: Fields<RateLimitEntry> } = {
  key: "rate_limits",
  // Buckets and their gossip are built at start.
  reload: "restart",
  fields: {
    name: { key: "name", type: { kind: "string", nonEmpty: true }, required: true, reload: "restart", doc: "unique name; the same limit on every node has the same name" },
    key: { key: "key", type: { kind: "string" }, default: () => "", reload: "restart", doc: 'what one bucket is for: "ip", "header:<name>", "route", or "" (one bucket)' },
    rate: { key: "rate", type: { kind: "int", min: 1, max: 1_000_000_000 }, required: true, reload: "restart", doc: "requests per second per key value (for the whole cluster when scope = cluster)" },
    burst: { key: "burst", type: { kind: "int", min: 1, max: 1_000_000_000 }, reload: "restart", doc: "requests allowed at once above the rate (default: rate)" },
    scope: { key: "scope", type: { kind: "enum", values: ["cluster", "node"] }, default: () => "cluster", reload: "restart", doc: "cluster: one limit for all nodes together; node: each node on its own" },
    pool: { key: "pool", type: { kind: "string", nonEmpty: true }, reload: "restart", doc: "only requests routed to this pool (default: all)" },
  },
};

/**
 * Calls `fn` once per section with its spec and how to read that section from a Config: a loop over
 * the sections that stays typed (a plain loop would mix the sections' types).
 */
export function eachSection(fn: <T>(spec: SectionSpec<T>, of: (c: Config) => T) => void): void {
  fn(SCHEMA.cluster, (c) => c.cluster);
  fn(SCHEMA.proxy, (c) => c.proxy);
  fn(SCHEMA.health, (c) => c.health);
  fn(SCHEMA.admin, (c) => c.admin);
  fn(SCHEMA.log, (c) => c.log);
}

/** Object.keys with the keys typed: the Fields<T> tables have exactly T's keys. */
export function propsOf<T extends object>(o: T): (keyof T & string)[] {
  return Object.keys(o) as (keyof T & string)[];
}

export interface ClusterConfig {
  nodeName: string;
  listenPort: number;
  bindAddress: string;
  advertiseAddress?: string;
  sharedKey?: string;
  /** Where sharedKey was read from, when it is kept out of the config file. */
  sharedKeyFile?: string;
  extraKeys: string[];
  peers: string[];
  probeIntervalMs: number;
  probeTimeoutMs: number;
  gossipIntervalMs: number;
  suspicionMult: number;
  pushPullIntervalMs: number;
  tls: boolean;
  tlsCa?: string;
  /** Rate-limit usage gossip: bytes per second sent at most. */
  rateLimitGossipBytes: number;
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
  /** HTTP/2 to clients (ALPN h2 over TLS, h2c prior knowledge on cleartext); upstreams stay HTTP/1.1. */
  http2: boolean;
  /** Rate-limit keys tracked per process at most (LRU). */
  rateLimitsMaxKeys: number;
  /** How the local backends are chosen. */
  balance: BalancePolicy;
  /** With balance = "hash": "ip" | "header:<name>" | "cookie:<name>" (checked by parse.ts). */
  hashKey: string;
  /** [proxy.tls]: terminate TLS on the proxy listener. */
  tls?: TlsConfig;
}

export interface HealthConfig {
  intervalMs: number;
  timeoutMs: number;
  /** tcp: the connection opens; http: GET `path` answers a status in `expect`. */
  type: "tcp" | "http";
  path: string;
  /** "200-399" or "200" (checked by parse.ts). */
  expect: string;
  /** Host header of an http check; absent = the backend's address. */
  host?: string;
  rise: number;
  fall: number;
  /** Passive outlier detection: failures within failWindowMs that trigger a confirming check; 0 = off. */
  maxFails: number;
  failWindowMs: number;
  ejectionTimeMs: number;
  maxEjectedPercent: number;
}

export interface AdminConfig {
  listenPort: number;
  bindAddress: string;
  /** CIDR ranges whose connections may use the admin API. */
  allow: string[];
}

export interface LogConfig {
  /** "off", "stdout" or a file path. */
  access: string;
  accessFormat: "json" | "combined";
}

export interface BackendConfig {
  /** As written: "host:port". */
  address: string;
  host: string;
  port: number;
  /** Share of requests; 0 = drain. */
  weight: number;
}

export interface PoolConfig {
  name: string;
  /** This node's backends for the pool; may be empty (other nodes serve it). */
  backends: BackendConfig[];
  /** How the pool's backends are chosen (the default pool: [proxy] balance / hash_key). */
  balance: BalancePolicy;
  hashKey: string;
  /** [health] with the pool's [pools.health] and [pools.passive] keys on top. */
  health: HealthConfig;
}

export interface RouteConfig {
  /** Lower-case exact host or "*.suffix"; undefined = any host. */
  host?: string;
  /** Starts with "/"; matched on segment boundaries. */
  pathPrefix: string;
  pool: string;
  stripPrefix: boolean;
}

/** What one rate-limit bucket is keyed by. */
export type RateLimitKey = { kind: "ip" } | { kind: "header"; name: string } | { kind: "route" } | { kind: "global" };

export interface RateLimitConfig {
  name: string;
  key: RateLimitKey;
  /** Requests per second per key value. */
  rate: number;
  burst: number;
  scope: "cluster" | "node";
  pool?: string;
}

export interface Config {
  cluster: ClusterConfig;
  proxy: ProxyConfig;
  health: HealthConfig;
  admin: AdminConfig;
  log: LogConfig;
  /** The top-level [[backends]]: this node's backends for the pool "default". */
  backends: BackendConfig[];
  /** Every pool this node has backends for or declares, the default pool (when there is one) first. */
  pools: PoolConfig[];
  /** [[routes]] as written (file order; matching order is by specificity, see routing/routes.ts). */
  routes: RouteConfig[];
  /** [[rate_limits]], in file order. */
  rateLimits: RateLimitConfig[];
}
