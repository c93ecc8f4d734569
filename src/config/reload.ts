// What a reload changes, decided by each key's reload rule in the schema: which changed keys are in
// force at once, which wait for a restart, and the configuration that is then really in force (so
// /status and --check never show a value the node does not use).

import { type AnyField, BACKENDS, type Config, eachSection, POOLS, propsOf, RATE_LIMITS, type ReloadRule, ROUTES, SCHEMA, type SectionSpec } from "./schema.ts";

/** Changed keys (TOML paths, e.g. `proxy.response_timeout`), by reload rule. */
export type ConfigDiff = Record<ReloadRule, string[]>;

export interface ReloadResult {
  /** Changed keys whose new values are in force. */
  applied: string[];
  /** Changed keys that need a restart (the old value stays in force). */
  restartNeeded: string[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** [proxy.tls] is a sub-table resolved on its own; its rule sits with its section. */
const PROXY_TLS_RULE: ReloadRule = SCHEMA.proxy.nested?.tls ?? "restart";

export function diffConfig(prev: Config, next: Config): ConfigDiff {
  const diff: ConfigDiff = { live: [], restart: [], keyring: [] };
  eachSection((spec, of) => {
    const a = of(prev);
    const b = of(next);
    for (const prop of propsOf(spec.fields)) {
      const f: AnyField = spec.fields[prop];
      if (!same(a[prop], b[prop])) diff[f.reload].push(`${spec.key}.${f.key}`);
    }
  });
  if (!same(prev.proxy.tls, next.proxy.tls)) diff[PROXY_TLS_RULE].push("proxy.tls");
  if (!same(prev.backends, next.backends)) diff[BACKENDS.reload].push(BACKENDS.key);
  const named = (c: Config) => c.pools.filter((p) => p.backends !== c.backends);
  if (!same(named(prev), named(next))) diff[POOLS.reload].push(POOLS.key);
  if (!same(prev.routes, next.routes)) diff[ROUTES.reload].push(ROUTES.key);
  if (!same(prev.rateLimits, next.rateLimits)) diff[RATE_LIMITS.reload].push(RATE_LIMITS.key);
  return diff;
}

/**
 * Settles a reload: `keyringApplied` says whether the gossip engine took the new keys (it can only
 * when gossip was encrypted from the start). Returns what is in force and what waits for a restart.
 */
export function settleReload(prev: Config, next: Config, diff: ConfigDiff, keyringApplied: boolean): ReloadResult & { config: Config } {
  const takes = (rule: ReloadRule) => rule === "live" || (rule === "keyring" && keyringApplied);
  const merge = <T>(spec: SectionSpec<T>, running: T, wanted: T): T => {
    const out = { ...running };
    for (const prop of propsOf(spec.fields)) {
      const f: AnyField = spec.fields[prop];
      if (takes(f.reload)) out[prop] = wanted[prop];
    }
    return out;
  };
  const config: Config = {
    cluster: merge(SCHEMA.cluster, prev.cluster, next.cluster),
    proxy: { ...merge(SCHEMA.proxy, prev.proxy, next.proxy), tls: takes(PROXY_TLS_RULE) ? next.proxy.tls : prev.proxy.tls },
    health: merge(SCHEMA.health, prev.health, next.health),
    admin: merge(SCHEMA.admin, prev.admin, next.admin),
    log: merge(SCHEMA.log, prev.log, next.log),
    // Pools include the default one: backends, pools and routes are all live, so they move together.
    backends: takes(BACKENDS.reload) ? next.backends : prev.backends,
    pools: takes(POOLS.reload) ? next.pools : prev.pools,
    routes: takes(ROUTES.reload) ? next.routes : prev.routes,
    rateLimits: takes(RATE_LIMITS.reload) ? next.rateLimits : prev.rateLimits,
  };
  return {
    config,
    applied: keyringApplied ? [...diff.live, ...diff.keyring] : diff.live,
    restartNeeded: keyringApplied ? diff.restart : [...diff.restart, ...diff.keyring],
  };
}
