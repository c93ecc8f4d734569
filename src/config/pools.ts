// [[pools]] and [[routes]]: named groups of backends and the Host/path rules that pick one. The top-level
// [[backends]] (the seed's key) are the pool "default". Routes are checked here once, so the data plane
// only ever sees normalised routes: lower-case hosts, prefixes without a trailing slash, no ties.

import { isTable, type Table, typeName } from "./table.ts";
import {
  ACTIVE_HEALTH_KEYS,
  type BackendConfig,
  DEFAULT_POOL,
  type Fields,
  type HealthConfig,
  MAX_POOLS,
  PASSIVE_KEYS,
  POOL_NAME_MAX,
  POOLS,
  type PoolConfig,
  ROUTES,
  type RouteConfig,
  SCHEMA,
} from "./schema.ts";

export interface PoolIssue {
  path: string;
  message: string;
}

/** What the parser lends this module: one table's keys resolved, and a [[backends]]-shaped list. */
export interface TableResolver {
  table<T>(fields: Fields<T>, raw: Table, prefix: string): Partial<T>;
  /** Only the `keys` present in `raw` (a table or absent), without defaults. */
  overrides<T>(fields: Fields<T>, keys: readonly (keyof T & string)[], raw: unknown, prefix: string): Partial<T>;
  backends(raw: unknown, path: string, required: boolean): BackendConfig[];
}

const POOL_NAME = /^[a-z0-9][a-z0-9._-]*$/;
const HOST_LABEL = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/;

/** A route host as written → lower-case exact host or "*.suffix"; a string on error. */
export function normalizeRouteHost(raw: string): { host: string } | string {
  let h = raw.trim().toLowerCase();
  if (h.endsWith(".")) h = h.slice(0, -1);
  const wild = h.startsWith("*.");
  const name = wild ? h.slice(2) : h;
  if (name.startsWith("[") && name.endsWith("]") && !wild) return { host: name };
  if (name.includes(":")) return `"${raw}" must not include a port (routes match the host whatever the port)`;
  if (name.includes("*")) return `"${raw}": a wildcard is only allowed as the whole first label, e.g. "*.example.com"`;
  const labels = name.split(".");
  if (name === "" || labels.some((l) => !HOST_LABEL.test(l))) return `"${raw}" is not a host name`;
  return { host: wild ? `*.${name}` : name };
}

/** A path prefix as written → "/a/b" (no trailing slash; "/" stays "/"); a string on error. */
export function normalizePathPrefix(raw: string): { prefix: string } | string {
  if (!raw.startsWith("/")) return `"${raw}" must start with "/"`;
  if (/[?#\s]/.test(raw)) return `"${raw}" must be a path only (no query, fragment or spaces)`;
  const p = raw.replace(/\/+$/, "");
  return { prefix: p === "" ? "/" : p };
}

/**
 * A pool's cluster-wide id in gossip metadata (control/nodemeta.ts): FNV-1a (32-bit) of its name. Pool
 * names are ASCII (poolNameProblem), so the name's bytes are its char codes.
 */
export function poolId(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function poolNameProblem(name: string): string | undefined {
  if (name.length > POOL_NAME_MAX) return `"${name}" is longer than ${POOL_NAME_MAX} bytes`;
  if (!POOL_NAME.test(name)) return `"${name}" may hold only a-z, 0-9, ".", "_" and "-", starting with a letter or digit`;
  return undefined;
}

/** A pool as written: balance and hash_key unset for the default pool (they are [proxy]'s), health keys only as overridden. */
export interface ParsedPool extends Omit<PoolConfig, "balance" | "hashKey" | "health"> {
  /** Where it was written ("backends" or "pools[i]"), for messages. */
  path: string;
  balance?: PoolConfig["balance"];
  hashKey?: string;
  healthOverrides: Partial<HealthConfig>;
}

/**
 * The default pool (from [[backends]]), the [[pools]] and the [[routes]]. A node needs backends of its
 * own, or pools or routes that send requests to other nodes' backends.
 */
export function resolvePoolsAndRoutes(
  doc: Table,
  r: TableResolver,
  issues: PoolIssue[],
): { backends: BackendConfig[]; pools: ParsedPool[]; routes: RouteConfig[] } {
  const hasPools = doc.pools !== undefined || doc.routes !== undefined;
  const backends = doc.backends === undefined && hasPools ? [] : r.backends(doc.backends, "backends", true);
  const pools: ParsedPool[] = [];
  const declaredDefault = doc.backends !== undefined;
  if (declaredDefault) pools.push({ name: DEFAULT_POOL, path: "backends", backends, healthOverrides: {} });
  const where = new Map<string, string>();
  if (declaredDefault) where.set(DEFAULT_POOL, "[[backends]]");
  forEachTable(doc.pools, "pools", "[[pools]] with name = \"...\"", issues, (entry, path) => {
    const before = issues.length;
    const { backends: rawBackends, health: rawHealth, passive: rawPassive, ...own } = entry;
    const p = r.table(POOLS.fields, own, `${path}.`);
    if (issues.length > before || p.name === undefined) return;
    const problem = poolNameProblem(p.name);
    if (problem) return void issues.push({ path: `${path}.name`, message: problem });
    const first = where.get(p.name);
    if (first) return void issues.push({ path: `${path}.name`, message: `pool "${p.name}" is already defined by ${first}` });
    where.set(p.name, path);
    const list = rawBackends === undefined ? [] : r.backends(rawBackends, `${path}.backends`, false);
    const healthOverrides = {
      ...r.overrides(SCHEMA.health.fields, ACTIVE_HEALTH_KEYS, rawHealth, `${path}.health.`),
      ...r.overrides(SCHEMA.health.fields, PASSIVE_KEYS, rawPassive, `${path}.passive.`),
    };
    pools.push({ name: p.name, path, backends: list, balance: p.balance, hashKey: p.hashKey, healthOverrides });
  });
  if (pools.length > MAX_POOLS) issues.push({ path: "pools", message: `${pools.length} pools (with default); a node can publish at most ${MAX_POOLS}` });
  const routes: RouteConfig[] = [];
  const seen = new Map<string, string>();
  forEachTable(doc.routes, "routes", "[[routes]] with pool = \"...\"", issues, (entry, path) => {
    const before = issues.length;
    const t = r.table<RouteConfig>(ROUTES.fields, entry, `${path}.`);
    if (issues.length > before || t.pool === undefined || t.pathPrefix === undefined || t.stripPrefix === undefined) return;
    const poolProblem = poolNameProblem(t.pool);
    if (poolProblem) return void issues.push({ path: `${path}.pool`, message: poolProblem });
    let host: string | undefined;
    if (t.host !== undefined) {
      const h = normalizeRouteHost(t.host);
      if (typeof h === "string") return void issues.push({ path: `${path}.host`, message: h });
      host = h.host;
    }
    const p = normalizePathPrefix(t.pathPrefix);
    if (typeof p === "string") return void issues.push({ path: `${path}.path_prefix`, message: p });
    const key = `${host ?? "*"} ${p.prefix}`;
    const tie = seen.get(key);
    if (tie) {
      issues.push({ path, message: `matches exactly what ${tie} matches (host ${host ?? "any"}, path_prefix ${p.prefix}): one of them could never be chosen` });
      return;
    }
    seen.set(key, path);
    routes.push({ host, pathPrefix: p.prefix, pool: t.pool, stripPrefix: t.stripPrefix });
  });
  // Two names with one id would share one count in every peer's view: refuse rather than misroute.
  const ids = new Map<number, string>();
  for (const name of [...pools.map((p) => p.name), ...routes.map((r) => r.pool)]) {
    const other = ids.get(poolId(name));
    if (other !== undefined && other !== name) issues.push({ path: "pools", message: `pool names "${other}" and "${name}" share a gossip id (a 32-bit hash); rename one` });
    ids.set(poolId(name), name);
  }
  return { backends, pools, routes };
}

function forEachTable(
  raw: unknown,
  key: string,
  shape: string,
  issues: PoolIssue[],
  fn: (entry: Table, path: string) => void,
): void {
  if (raw === undefined) return;
  if (!Array.isArray(raw)) return void issues.push({ path: key, message: `expected an array of tables (${shape}), got ${typeName(raw)}` });
  raw.forEach((entry, i) => {
    const path = `${key}[${i}]`;
    if (!isTable(entry)) return void issues.push({ path, message: `expected a table (${shape}), got ${typeName(entry)}` });
    fn(entry, path);
  });
}
