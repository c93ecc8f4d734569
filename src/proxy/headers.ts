// Header rules on a Headers object, for the paths that hand one to the upstream (fetch, WebSocket) and
// for responses. The pooled client's path applies the same rules while serialising (request-head.ts).

import type { ForwardingInfo } from "./request-head.ts";
import { connectionListed, isHopByHop } from "./upstream/hopbyhop.ts";

/** On a 503 from a node: "I have no healthy backend" (the sender then tries another node). */
export const NO_BACKEND_HEADER = "x-clusterclub-no-backend";

/** Fields only ClusterClub nodes set (this prefix); never accepted from clients nor shown to them. */
export const INTERNAL_PREFIX = "x-clusterclub-";

/** On a request forwarded to a peer: the pool the entry node routed it to (trusted only from members). */
export const POOL_HEADER = "x-clusterclub-pool";

/** Removes hop-by-hop fields, including every field named in `Connection` (never Host). */
export function stripHopByHop(h: Headers): void {
  const conn = h.get("connection");
  const listed = conn === null ? null : connectionListed(conn);
  const drop: string[] = [];
  h.forEach((_v, name) => {
    if (isHopByHop(name) || listed?.has(name)) drop.push(name);
  });
  for (const name of drop) h.delete(name);
}

/** Drops internal fields from a client's request (a client must not speak for a node). */
function stripInternal(h: Headers): void {
  const drop: string[] = [];
  h.forEach((_v, name) => {
    if (name.startsWith(INTERNAL_PREFIX)) drop.push(name);
  });
  for (const name of drop) h.delete(name);
}

/**
 * Drops what a node told us from an upstream's response: it was meant for this node only (a peer
 * forwards nothing on), and clients never see what nodes tell each other. Nodes set only these fields.
 */
export function stripNodeSignals(h: Headers): void {
  h.delete(NO_BACKEND_HEADER);
}

/** Prepares client request headers for the upstream: hop-by-hop out, X-Forwarded-* and Via in. Host is kept. */
export function prepareRequestHeaders(h: Headers, info: ForwardingInfo): void {
  stripHopByHop(h);
  if (!info.trusted) stripInternal(h);
  const xff = h.get("x-forwarded-for");
  h.set("x-forwarded-for", xff ? `${xff}, ${info.clientIp}` : info.clientIp);
  if (!info.trusted || !h.has("x-forwarded-proto")) h.set("x-forwarded-proto", info.proto);
  if (!info.trusted || !h.has("x-forwarded-host")) {
    const host = h.get("host");
    if (host !== null) h.set("x-forwarded-host", host);
  }
  const via = h.get("via");
  h.set("via", via ? `${via}, ${info.via}` : info.via);
}
