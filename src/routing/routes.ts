// The route table: which pool serves a request, by Host and path. Matching is by specificity, never by
// file order: an exact host before a wildcard (the longest suffix first) before any host, and within
// each the longest path prefix, on segment boundaries. Routes arrive normalised and tie-free
// (config/pools.ts); this module only indexes them so that a request costs a map lookup or two.

import { DEFAULT_POOL, type RouteConfig } from "../config/schema.ts";

/** Requests no route matches go to this node's default pool, when it has one (else 404). */
export function fallbackPool(poolNames: readonly string[]): string | undefined {
  return poolNames.includes(DEFAULT_POOL) ? DEFAULT_POOL : undefined;
}

/** One route, compiled: what the request path needs once it matched. */
export interface Route {
  readonly pool: string;
  /** "" for "/", else "/a/b": matched on segment boundaries. */
  readonly prefix: string;
  readonly stripPrefix: boolean;
  /** As configured, for --check and logs ("*" = any host). */
  readonly host: string;
}

/** Routes sharing one host pattern, longest prefix first. */
type Group = Route[];

export class RouteTable {
  private readonly exact = new Map<string, Group>();
  /** Keyed by the suffix with its dot: "*.example.com" is ".example.com". */
  private readonly wildcard = new Map<string, Group>();
  private readonly anyHost: Group = [];
  /** Used when nothing matches; undefined = 404. */
  readonly fallback: Route | undefined;
  readonly size: number;

  constructor(routes: readonly RouteConfig[], defaultPool: string | undefined) {
    for (const r of routes) {
      const route: Route = { pool: r.pool, prefix: r.pathPrefix === "/" ? "" : r.pathPrefix, stripPrefix: r.stripPrefix, host: r.host ?? "*" };
      const group = r.host === undefined ? this.anyHost : groupOf(r.host.startsWith("*.") ? this.wildcard : this.exact, r.host.startsWith("*.") ? r.host.slice(1) : r.host);
      group.push(route);
    }
    for (const g of [...this.exact.values(), ...this.wildcard.values(), this.anyHost]) g.sort((a, b) => b.prefix.length - a.prefix.length);
    this.fallback = defaultPool === undefined ? undefined : { pool: defaultPool, prefix: "", stripPrefix: false, host: "*" };
    this.size = routes.length;
  }

  /**
   * The route for a request: `host` is the Host header as sent (any case, maybe with a port), `path`
   * the request target's path and query. Undefined when no route matches and there is no default pool.
   */
  match(host: string | null, path: string): Route | undefined {
    if (this.size === 0) return this.fallback;
    const q = path.indexOf("?");
    const p = q < 0 ? path : path.slice(0, q);
    if (host !== null && (this.exact.size > 0 || this.wildcard.size > 0)) {
      const h = hostOnly(host);
      const exact = this.exact.get(h);
      const hit = exact === undefined ? undefined : longestPrefix(exact, p);
      if (hit !== undefined) return hit;
      if (this.wildcard.size > 0) {
        // ".b.example.com", then ".example.com", then ".com": the longest suffix first.
        for (let i = h.indexOf("."); i >= 0; i = h.indexOf(".", i + 1)) {
          const g = this.wildcard.get(h.slice(i));
          const w = g === undefined ? undefined : longestPrefix(g, p);
          if (w !== undefined) return w;
        }
      }
    }
    return longestPrefix(this.anyHost, p) ?? this.fallback;
  }

  /** Every route in the order it is tried (for --check), the fallback last. */
  ordered(): Route[] {
    const byKey = (m: Map<string, Group>) => [...m.keys()].sort().map((k) => m.get(k)!);
    const wild = [...this.wildcard.keys()].sort((a, b) => b.length - a.length || a.localeCompare(b)).map((k) => this.wildcard.get(k)!);
    const out = [...byKey(this.exact), ...wild, this.anyHost].flat();
    if (this.fallback) out.push(this.fallback);
    return out;
  }
}

/** The route table as --check prints it: one comment line per route, in match order. */
export function describeRoutes(t: RouteTable): string {
  const rows = t.ordered().map((r, i) => {
    const what = r === t.fallback ? "(no route matched)" : `${r.host} ${r.prefix || "/"}`;
    return `#   ${i + 1}. ${what} → pool ${r.pool}${r.stripPrefix ? ` (strips ${r.prefix})` : ""}`;
  });
  if (t.fallback === undefined) rows.push(`#   ${rows.length + 1}. (no route matched) → 404`);
  return `# routes, in match order (exact host, wildcard, any host; longest path prefix first):\n${rows.join("\n")}\n`;
}

/**
 * `path` (with its query) without `prefix` ("/a/b"), at least "/"; unchanged when it does not start with
 * the prefix on a segment boundary.
 */
export function stripPrefix(prefix: string, path: string): string {
  const n = prefix.length;
  if (n === 0 || !path.startsWith(prefix)) return path;
  const next = path.charCodeAt(n);
  if (path.length === n || next === 63 /* ? */) return "/" + path.slice(n);
  return next === 47 /* / */ ? path.slice(n) : path;
}

function groupOf(m: Map<string, Group>, key: string): Group {
  let g = m.get(key);
  if (g === undefined) m.set(key, (g = []));
  return g;
}

/** The first (longest) prefix of `group` that `path` starts with on a segment boundary. */
function longestPrefix(group: Group, path: string): Route | undefined {
  for (const r of group) {
    const n = r.prefix.length;
    if (n === 0) return r;
    if (path.startsWith(r.prefix) && (path.length === n || path.charCodeAt(n) === 47 /* / */)) return r;
  }
  return undefined;
}

/** "API.example.com:8080" → "api.example.com"; "[::1]:80" → "[::1]"; a trailing dot dropped. */
export function hostOnly(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf("]");
    if (close > 0) end = close + 1;
  } else {
    const colon = host.indexOf(":");
    if (colon >= 0) end = colon;
  }
  if (end > 0 && host.charCodeAt(end - 1) === 46 /* . */) end--;
  const h = end === host.length ? host : host.slice(0, end);
  return hasUpper(h) ? h.toLowerCase() : h;
}

function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}
