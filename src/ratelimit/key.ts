// What a request's bucket is, per limit: the client's address, one header's value, its route, or one
// bucket for all. Plus the two hashes that name a limit and a bucket on the wire.

import type { RateLimitKey } from "../config/schema.ts";
import type { Route } from "../routing/routes.ts";

/** What the request path already knows about a request, for key extraction. */
export interface RequestKeys {
  headers: Headers;
  clientIp: string;
  /** The route the request matched (the default pool's fallback route included), or null. */
  route: Route | null;
  /** The pool the request is routed to, or null. */
  pool: string | null;
}

/**
 * The bucket's key value for this request, or null when the limit does not apply: a request without
 * the header is not limited by a header-keyed limit (as Envoy skips a descriptor it cannot fill; add an
 * "ip" or "" limit to cover those). Unrouted requests share the route bucket "".
 */
export function keyValue(k: RateLimitKey, r: RequestKeys): string | null {
  switch (k.kind) {
    case "ip":
      return r.clientIp;
    case "header":
      return r.headers.get(k.name);
    case "route":
      return r.route === null ? "" : routeName(r.route);
    case "global":
      return "";
  }
}

const routeNames = new WeakMap<Route, string>();

/** A route as a bucket key: its host pattern ("*" for any) and prefix, e.g. api.example.com/v1; made once per route. */
export function routeName(route: Route): string {
  let n = routeNames.get(route);
  if (n === undefined) {
    n = `${route.host}${route.prefix === "" ? "/" : route.prefix}`;
    routeNames.set(route, n);
  }
  return n;
}

const MASK_48 = (1n << 48n) - 1n;

/**
 * 48 bits naming one bucket of one limit across the cluster (what gossip carries instead of the key's
 * text: a fixed 6 bytes, and no client data on the wire). Collisions are ~n²/2⁴⁹: 2·10⁻⁵ at 100k keys.
 */
export function bucketHash(limitName: string, value: string): number {
  return Number(Bun.hash.wyhash(`${limitName}\n${value}`) & MASK_48);
}

/** 32 bits naming a limit on the wire (by name, so nodes may list their limits in any order). */
export function limitId(name: string): number {
  return Bun.hash.crc32(name) >>> 0;
}
