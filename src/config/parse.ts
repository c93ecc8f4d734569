// TOML text → validated Config. Collects every problem before failing, each named by its key path.

import { closeSync, openSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { parse as parseToml, TomlError } from "smol-toml";
import { parseCidr } from "./cidr.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { errorCodeOrMessage, formatHostPort } from "../netutil.ts";
import { parseHostPort } from "./hostport.ts";
import { readKeyFile } from "./keyfile.ts";
import { type ParsedPool, resolvePoolsAndRoutes } from "./pools.ts";
import { isTable, type Table, typeName } from "./table.ts";
import { resolveTls } from "./tls.ts";
import { parseHashKey } from "../routing/balance/key.ts";
import { parseExpect } from "../health/probe.ts";
import {
  ACTIVE_HEALTH_KEYS,
  type AnyField,
  BACKENDS,
  type BackendConfig,
  type Config,
  DEFAULT_POOL,
  eachSection,
  type Fields,
  type HealthConfig,
  PASSIVE_KEYS,
  type PoolConfig,
  POOLS,
  propsOf,
  type ProxyConfig,
  ROUTES,
  SCHEMA,
  RATE_LIMITS,
  type RateLimitConfig,
  type RateLimitKey,
  type SectionSpec,
} from "./schema.ts";

export interface ConfigIssue {
  /** Key path, e.g. `backends[2].address`; empty for the whole file. */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
  ) {
    super(
      `invalid configuration in ${source}:\n` +
        issues.map((i) => `  - ${i.path ? `${i.path}: ` : ""}${i.message}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

/** Validates one value against its spec; returns the resolved value or pushes an issue. */
function resolveField(spec: AnyField, raw: unknown, path: string, issues: ConfigIssue[]): unknown {
  const t = spec.type;
  const bad = (expected: string) => {
    issues.push({ path, message: `expected ${expected}, got ${typeName(raw)}` });
    return undefined;
  };
  switch (t.kind) {
    case "port": {
      if (typeof raw !== "number" || !Number.isInteger(raw)) return bad("a port number (integer)");
      const min = t.allowZero ? 0 : 1;
      if (raw < min || raw > 65535) {
        issues.push({ path, message: `port ${raw} is out of range ${min}–65535${t.allowZero ? " (0 picks a free port)" : ""}` });
        return undefined;
      }
      return raw;
    }
    case "int": {
      if (typeof raw !== "number" || !Number.isInteger(raw)) return bad("an integer");
      if (raw < t.min || raw > t.max) {
        issues.push({ path, message: `${raw} is out of range ${t.min}–${t.max}` });
        return undefined;
      }
      return raw;
    }
    case "bool":
      return typeof raw === "boolean" ? raw : bad("true or false");
    case "enum":
      return typeof raw === "string" && t.values.includes(raw) ? raw : bad(`one of ${t.values.map((v) => `"${v}"`).join(", ")}`);
    case "string": {
      if (typeof raw !== "string") return bad("a string");
      if (t.nonEmpty && raw.trim() === "") {
        issues.push({ path, message: "must not be empty" });
        return undefined;
      }
      return raw;
    }
    case "ip": {
      if (typeof raw !== "string") return bad('an IP address string, e.g. "0.0.0.0"');
      if (!isIP(raw)) {
        issues.push({ path, message: `"${raw}" is not an IP address` });
        return undefined;
      }
      return raw;
    }
    case "duration": {
      if (typeof raw !== "string") return bad('a duration string such as "500ms", "10s", "1m"');
      const ms = parseDuration(raw);
      if (ms === undefined) {
        issues.push({ path, message: `"${raw}" is not a duration; write e.g. "500ms", "10s", "1m30s"` });
        return undefined;
      }
      const min = t.minMs ?? 0;
      const max = t.maxMs ?? Number.MAX_SAFE_INTEGER;
      if (ms < min || ms > max) {
        issues.push({ path, message: `${raw} is out of range ${formatDuration(min)}–${formatDuration(max)}` });
        return undefined;
      }
      return ms;
    }
    case "strings":
      return eachString(raw, path, issues, bad, { array: "an array of strings", item: "a non-empty string" }, (v) =>
        v === "" ? `expected a non-empty string, got ${typeName(v)}` : undefined,
      );
    case "cidrs":
      return eachString(raw, path, issues, bad, { array: 'an array of CIDR ranges, e.g. ["127.0.0.0/8", "::1/128"]', item: 'a CIDR range string such as "10.0.0.0/8"' }, (v) => {
        const r = parseCidr(v);
        return typeof r === "string" ? r : undefined;
      });
    case "hostports":
      return eachString(raw, path, issues, bad, { array: 'an array of "host:port" strings', item: 'a "host:port" string' }, (v) => {
        const hp = parseHostPort(v);
        return typeof hp === "string" ? `${hp}; expected "host:port"` : undefined;
      });
  }
}

/** An array of strings, each checked by `check` (a message when wrong); every bad item is its own issue. */
function eachString(
  raw: unknown,
  path: string,
  issues: ConfigIssue[],
  bad: (expected: string) => undefined,
  expected: { array: string; item: string },
  check: (v: string) => string | undefined,
): string[] | undefined {
  if (!Array.isArray(raw)) return bad(expected.array);
  const out: string[] = [];
  raw.forEach((v, i) => {
    const problem = typeof v === "string" ? check(v) : `expected ${expected.item}, got ${typeName(v)}`;
    if (problem === undefined) out.push(v);
    else issues.push({ path: `${path}[${i}]`, message: problem });
  });
  return out;
}

/** One table's keys → the properties they fill; unknown keys are issues, absent ones take their default. */
function resolveTable<T>(fields: Fields<T>, raw: Table, prefix: string, issues: ConfigIssue[], nested: string[] = []): Partial<T> {
  const out: Partial<T> = {};
  const props = propsOf(fields);
  const known = new Set(props.map((p) => fields[p].key));
  for (const key of Object.keys(raw)) {
    if (!known.has(key) && !nested.includes(key)) {
      issues.push({ path: `${prefix}${key}`, message: `unknown key; known keys here: ${[...known].join(", ")}` });
    }
  }
  for (const prop of props) {
    const f: AnyField = fields[prop];
    const path = `${prefix}${f.key}`;
    const v = raw[f.key] === undefined ? f.default?.() : resolveField(f, raw[f.key], path, issues);
    if (raw[f.key] === undefined && f.required) issues.push({ path, message: `is required (${f.doc})` });
    // Fields<T> ties each entry's kind (and default) to T[prop]; resolveField returns a value of that kind.
    if (v !== undefined) out[prop] = v as T[typeof prop];
  }
  return out;
}

/** True when every property that may not be unset has a value (it has one unless an issue was pushed). */
function isComplete<T>(fields: Fields<T>, v: Partial<T>): v is T {
  return propsOf(fields).every((p) => {
    const f: AnyField = fields[p];
    return v[p] !== undefined || (f.default === undefined && !f.required);
  });
}

function resolveSection<T>(spec: SectionSpec<T>, doc: Table, issues: ConfigIssue[]): Partial<T> {
  const raw = doc[spec.key] ?? {};
  if (!isTable(raw)) {
    issues.push({ path: spec.key, message: `expected a table [${spec.key}], got ${typeName(raw)}` });
    return resolveTable(spec.fields, {}, `${spec.key}.`, []);
  }
  return resolveTable(spec.fields, raw, `${spec.key}.`, issues, Object.keys(spec.nested ?? {}));
}

/** Parses and validates TOML text. Throws ConfigError with every problem found. */
export function parseConfig(text: string, source = "config"): Config {
  let doc: Table;
  try {
    doc = parseToml(text);
  } catch (e) {
    const msg = e instanceof TomlError ? `TOML syntax error at line ${e.line}, column ${e.column}: ${e.message.split("\n")[0]}` : String(e);
    throw new ConfigError(source, [{ path: "", message: msg }]);
  }
  const issues: ConfigIssue[] = [];
  const sectionKeys = new Set([...Object.values(SCHEMA).map((s) => s.key), BACKENDS.key, POOLS.key, ROUTES.key, RATE_LIMITS.key]);
  for (const key of Object.keys(doc)) {
    if (!sectionKeys.has(key)) issues.push({ path: key, message: `unknown section; known: ${[...sectionKeys].join(", ")}` });
  }
  const cluster = resolveSection(SCHEMA.cluster, doc, issues);
  readKeyFile(cluster, issues);
  const proxy = resolveSection(SCHEMA.proxy, doc, issues);
  const health = resolveSection(SCHEMA.health, doc, issues);
  const admin = resolveSection(SCHEMA.admin, doc, issues);
  const log = resolveSection(SCHEMA.log, doc, issues);
  checkAccessLog(log.access, issues);
  // The check timeout defaults to 1s but never to more than the interval the operator chose.
  const rawHealth = isTable(doc.health) ? doc.health : {};
  if (rawHealth.timeout === undefined && health.timeoutMs !== undefined && health.intervalMs !== undefined) {
    health.timeoutMs = Math.min(health.timeoutMs, health.intervalMs);
  }
  const tls = resolveTls(isTable(doc.proxy) ? doc.proxy.tls : undefined, issues);
  const { backends, pools, routes } = resolvePoolsAndRoutes(
    doc,
    {
      table: (fields, raw, prefix) => resolveTable(fields, raw, prefix, issues),
      overrides: (fields, keys, raw, prefix) => resolveOverrides(fields, keys, raw, prefix, issues),
      backends: (raw, path, required) => resolveBackends(raw, path, required, issues),
    },
    issues,
  );
  const rateLimits = resolveRateLimits(doc.rate_limits, pools.map((p) => p.name), issues);
  crossCheck(cluster, proxy, health, admin, issues);
  for (const p of pools) {
    if (p.hashKey !== undefined) checkHashKey(p.hashKey, `${p.path}.hash_key`, issues);
    checkHealth(p.healthOverrides, `${p.path}.health.`, issues);
    const t = p.healthOverrides.timeoutMs ?? health.timeoutMs;
    const i = p.healthOverrides.intervalMs ?? health.intervalMs;
    if (p.healthOverrides.timeoutMs !== undefined && i !== undefined && t !== undefined && t > i) {
      issues.push({ path: `${p.path}.health.timeout`, message: `must not exceed the pool's interval (${formatDuration(i)})` });
    }
  }
  if (issues.length > 0) throw new ConfigError(source, issues);
  if (!isComplete(SCHEMA.cluster.fields, cluster) || !isComplete(SCHEMA.proxy.fields, proxy) || !isComplete(SCHEMA.health.fields, health) || !isComplete(SCHEMA.admin.fields, admin) || !isComplete(SCHEMA.log.fields, log)) {
    // Unreachable: a property without a value has a default, or its absence was an issue above.
    throw new ConfigError(source, [{ path: "", message: "incomplete configuration" }]);
  }
  return { cluster, proxy: tls ? { ...proxy, tls } : proxy, health, admin, log, backends, pools: finishPools(pools, proxy, health), routes, rateLimits };
}

/** An HTTP field name (RFC 9110 token). */
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** `ip` | `header:<name>` | `route` | "" → the key spec, or why not. */
export function parseRateLimitKey(text: string): RateLimitKey | string {
  if (text === "") return { kind: "global" };
  if (text === "ip" || text === "route") return { kind: text };
  if (text.startsWith("header:")) {
    const name = text.slice(7).trim();
    if (!FIELD_NAME.test(name)) return `"${name}" is not a header field name`;
    return { kind: "header", name: name.toLowerCase() };
  }
  return `"${text}" is not a key; expected "ip", "header:<name>", "route" or "" (one bucket for all)`;
}

function resolveRateLimits(raw: unknown, poolNames: string[], issues: ConfigIssue[]): RateLimitConfig[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    issues.push({ path: "rate_limits", message: `expected an array of tables ([[rate_limits]]), got ${typeName(raw)}` });
    return [];
  }
  const out: RateLimitConfig[] = [];
  const seen = new Map<string, number>();
  raw.forEach((entry, i) => {
    const prefix = `rate_limits[${i}].`;
    if (!isTable(entry)) {
      issues.push({ path: `rate_limits[${i}]`, message: `expected a table with name, key, rate, got ${typeName(entry)}` });
      return;
    }
    const before = issues.length;
    const r = resolveTable(RATE_LIMITS.fields, entry, prefix, issues);
    if (issues.length > before || !isComplete(RATE_LIMITS.fields, r)) return;
    const first = seen.get(r.name);
    if (first !== undefined) {
      issues.push({ path: `${prefix}name`, message: `duplicate of rate_limits[${first}].name ("${r.name}")` });
      return;
    }
    seen.set(r.name, i);
    if (r.pool !== undefined && !poolNames.includes(r.pool)) {
      issues.push({ path: `${prefix}pool`, message: `no pool named "${r.pool}"; pools: ${poolNames.join(", ") || "none"}` });
      return;
    }
    const key = parseRateLimitKey(r.key);
    if (typeof key === "string") {
      issues.push({ path: `${prefix}key`, message: key });
      return;
    }
    out.push({ name: r.name, key, rate: r.rate, burst: r.burst ?? r.rate, scope: r.scope, pool: r.pool });
  });
  return out;
}

/** A [[backends]] list (the top-level one, `required`, or a pool's) at `key`. */
function resolveBackends(raw: unknown, key: string, required: boolean, issues: ConfigIssue[]): BackendConfig[] {
  if (raw === undefined) {
    issues.push({ path: key, message: 'no backends: add at least one [[backends]] table with address = "host:port" (or [[pools]] and [[routes]])' });
    return [];
  }
  if (!Array.isArray(raw)) {
    issues.push({ path: key, message: `expected an array of tables ([[${key}]]), got ${typeName(raw)}` });
    return [];
  }
  if (raw.length === 0 && required) issues.push({ path: key, message: "is empty: add at least one backend" });
  const out: BackendConfig[] = [];
  const seen = new Map<string, number>();
  raw.forEach((entry, i) => {
    const prefix = `${key}[${i}].`;
    if (!isTable(entry)) {
      issues.push({ path: `${key}[${i}]`, message: `expected a table with address = "host:port", got ${typeName(entry)}` });
      return;
    }
    const before = issues.length;
    const b = resolveTable(BACKENDS.fields, entry, prefix, issues);
    if (issues.length > before || b.address === undefined) return;
    const hp = parseHostPort(b.address);
    if (typeof hp === "string") {
      issues.push({ path: `${prefix}address`, message: `${hp}; expected "host:port"` });
      return;
    }
    const canonical = formatHostPort(hp.host.toLowerCase(), hp.port);
    const first = seen.get(canonical);
    if (first !== undefined) {
      issues.push({ path: `${prefix}address`, message: `duplicate of ${key}[${first}].address (${canonical})` });
      return;
    }
    seen.set(canonical, i);
    out.push({ address: b.address, host: hp.host, port: hp.port, weight: b.weight ?? 1 });
  });
  return out;
}

/** An access log file must be appendable now: a typo in the path fails the config, not the first request. */
function checkAccessLog(access: string | undefined, issues: ConfigIssue[]): void {
  if (access === undefined || access === "off" || access === "stdout") return;
  try {
    closeSync(openSync(access, "a", 0o640));
  } catch (e) {
    issues.push({ path: "log.access", message: `cannot open "${access}" for appending: ${errorCodeOrMessage(e)}` });
  }
}

function checkHashKey(v: string, path: string, issues: ConfigIssue[]): void {
  const k = parseHashKey(v);
  if (typeof k === "string") issues.push({ path, message: k });
}

/** The http check's values ([health] or a pool's overrides, `prefix` naming the table). */
function checkHealth(health: Partial<HealthConfig>, prefix: string, issues: ConfigIssue[]): void {
  if (health.expect !== undefined) {
    const e = parseExpect(health.expect);
    if (typeof e === "string") issues.push({ path: `${prefix}expect`, message: e });
  }
  if (health.path !== undefined && !/^\/[\x21-\x7e]*$/.test(health.path)) issues.push({ path: `${prefix}path`, message: `"${health.path}" must start with "/" and hold no spaces or control characters` });
  if (health.host !== undefined && !/^[\x21-\x7e]+$/.test(health.host)) issues.push({ path: `${prefix}host`, message: `"${health.host}" is not a valid Host value` });
}

/** Only the `keys` present in `raw` (a pool's [pools.health] or [pools.passive]); the rest come from [health]. */
function resolveOverrides<T>(fields: Fields<T>, keys: readonly (keyof T & string)[], raw: unknown, prefix: string, issues: ConfigIssue[]): Partial<T> {
  const out: Partial<T> = {};
  if (raw === undefined) return out;
  if (!isTable(raw)) {
    issues.push({ path: prefix.slice(0, -1), message: `expected a table, got ${typeName(raw)}` });
    return out;
  }
  const byKey = new Map(keys.map((k) => [fields[k].key, k]));
  for (const [key, v] of Object.entries(raw)) {
    const prop = byKey.get(key);
    if (prop === undefined) {
      issues.push({ path: `${prefix}${key}`, message: `unknown key; known keys here: ${[...byKey.keys()].join(", ")}` });
      continue;
    }
    const f: AnyField = fields[prop];
    const value = resolveField(f, v, `${prefix}${key}`, issues);
    // As in resolveTable: the field's kind is tied to T[prop].
    if (value !== undefined) out[prop] = value as T[typeof prop];
  }
  return out;
}

/** The parsed pools with what they take from [proxy] and [health] filled in. */
function finishPools(pools: readonly ParsedPool[], proxy: Pick<ProxyConfig, "balance" | "hashKey">, health: HealthConfig): PoolConfig[] {
  return pools.map((p) => {
    const h: HealthConfig = { ...health, ...p.healthOverrides };
    // As for [health]: a pool's shorter interval lowers the default timeout instead of failing.
    if (p.healthOverrides.timeoutMs === undefined && h.timeoutMs > h.intervalMs) h.timeoutMs = h.intervalMs;
    return { name: p.name, backends: p.backends, balance: p.balance ?? proxy.balance, hashKey: p.hashKey ?? proxy.hashKey, health: h };
  });
}

function crossCheck(
  cluster: Partial<Config["cluster"]>,
  proxy: Partial<Config["proxy"]>,
  health: Partial<Config["health"]>,
  admin: Partial<Config["admin"]>,
  issues: ConfigIssue[],
): void {
  const ports: [string, number | undefined][] = [
    ["proxy.listen_port", proxy.listenPort],
    ["admin.listen_port", admin.listenPort],
    ["cluster.listen_port", cluster.listenPort],
  ];
  for (let i = 0; i < ports.length; i++) {
    for (let j = i + 1; j < ports.length; j++) {
      const [pa, a] = ports[i]!;
      const [pb, b] = ports[j]!;
      if (a !== undefined && a !== 0 && a === b) issues.push({ path: pb, message: `port ${b} is already used by ${pa}` });
    }
  }
  if (health.timeoutMs !== undefined && health.intervalMs !== undefined && health.timeoutMs > health.intervalMs) {
    issues.push({ path: "health.timeout", message: `must not exceed health.interval (${formatDuration(health.intervalMs)})` });
  }
  if (proxy.hashKey !== undefined) checkHashKey(proxy.hashKey, "proxy.hash_key", issues);
  checkHealth(health, "health.", issues);
  if (cluster.tlsCa !== undefined) {
    try {
      readFileSync(cluster.tlsCa);
    } catch (e) {
      issues.push({ path: "cluster.tls_ca", message: `cannot read "${cluster.tlsCa}": ${errorCodeOrMessage(e)}` });
    }
  }
  if (cluster.probeTimeoutMs !== undefined && cluster.probeIntervalMs !== undefined && cluster.probeTimeoutMs >= cluster.probeIntervalMs) {
    issues.push({ path: "cluster.probe_timeout", message: `must be less than cluster.probe_interval (${formatDuration(cluster.probeIntervalMs)})` });
  }
}

/** A key spec as the config file writes it. */
export function rateLimitKeyText(k: RateLimitKey): string {
  return k.kind === "global" ? "" : k.kind === "header" ? `header:${k.name}` : k.kind;
}

export async function loadConfig(path: string): Promise<Config> {
  const file = Bun.file(path);
  if (!(await file.exists())) {
    throw new ConfigError(path, [{ path: "", message: "file not found" }]);
  }
  return parseConfig(await file.text(), path);
}

/** The resolved configuration as TOML, defaults filled in, secrets redacted (for --check). */
export function configToToml(cfg: Config): string {
  const lines: string[] = [];
  const value = (f: AnyField, v: unknown): string => {
    if (f.secret) return JSON.stringify(Array.isArray(v) ? v.map(() => "<redacted>") : "<redacted>");
    if (f.type.kind === "duration" && typeof v === "number") return JSON.stringify(formatDuration(v));
    return JSON.stringify(v);
  };
  eachSection((section, of) => {
    lines.push(`[${section.key}]`);
    const values = of(cfg);
    for (const prop of propsOf(section.fields)) {
      const f: AnyField = section.fields[prop];
      const v = values[prop];
      lines.push(v === undefined ? `# ${f.key} = (unset) — ${f.doc}` : `${f.key} = ${value(f, v)}`);
    }
    lines.push("");
  });
  const tls = cfg.proxy.tls;
  if (tls) {
    const [main, ...sni] = tls.certs;
    lines.push("[proxy.tls]");
    if (main) lines.push(`cert = ${JSON.stringify(main.certPath)}`, `key = ${JSON.stringify(main.keyPath)}`);
    if (tls.redirectPort !== undefined) lines.push(`redirect_port = ${tls.redirectPort}`);
    lines.push(`http3 = ${tls.http3}`);
    lines.push("");
    for (const c of sni) lines.push("[[proxy.tls.sni]]", `server_name = ${JSON.stringify(c.serverName)}`, `cert = ${JSON.stringify(c.certPath)}`, `key = ${JSON.stringify(c.keyPath)}`, "");
  }
  for (const b of cfg.backends) lines.push("[[backends]]", `address = ${JSON.stringify(b.address)}`, `weight = ${b.weight}`, "");
  for (const p of cfg.pools) {
    if (p.name === DEFAULT_POOL && p.backends === cfg.backends) continue;
    lines.push("[[pools]]", `name = ${JSON.stringify(p.name)}`, `balance = ${JSON.stringify(p.balance)}`, `hash_key = ${JSON.stringify(p.hashKey)}`, "");
    // The pool's checks as in force ([health] with its own keys on top), passive keys in their own table.
    for (const [table, keys] of [["health", ACTIVE_HEALTH_KEYS], ["passive", PASSIVE_KEYS]] as const) {
      lines.push(`[pools.${table}]`);
      for (const prop of keys) {
        const f: AnyField = SCHEMA.health.fields[prop];
        const v = p.health[prop];
        if (v !== undefined) lines.push(`${f.key} = ${value(f, v)}`);
      }
      lines.push("");
    }
    for (const b of p.backends) lines.push("[[pools.backends]]", `address = ${JSON.stringify(b.address)}`, `weight = ${b.weight}`, "");
  }
  for (const r of cfg.routes) {
    lines.push("[[routes]]");
    if (r.host !== undefined) lines.push(`host = ${JSON.stringify(r.host)}`);
    lines.push(`path_prefix = ${JSON.stringify(r.pathPrefix)}`, `pool = ${JSON.stringify(r.pool)}`, `strip_prefix = ${r.stripPrefix}`, "");
  }
  for (const r of cfg.rateLimits) {
    lines.push("[[rate_limits]]", `name = ${JSON.stringify(r.name)}`, `key = ${JSON.stringify(rateLimitKeyText(r.key))}`, `rate = ${r.rate}`, `burst = ${r.burst}`, `scope = "${r.scope}"`);
    if (r.pool !== undefined) lines.push(`pool = ${JSON.stringify(r.pool)}`);
    lines.push("");
  }
  return lines.join("\n");
}
