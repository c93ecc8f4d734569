// Header rules for both directions. Headers are edited in place (Bun's request and fetch
// response headers are mutable), so the request path never copies a header list.

/** RFC 9110 §7.6.1 hop-by-hop fields, plus the de-facto ones proxies also drop. */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

/** Headers only ClusterClub nodes set (this prefix); never accepted from clients nor shown to them. */
/** On a 503 from a node: "I have no healthy backend" (the sender then tries another node). */
export const NO_BACKEND_HEADER = "x-clusterclub-no-backend";

/** Removes hop-by-hop fields, including every field named in `Connection`. */
export function stripHopByHop(h: Headers): void {
  const conn = h.get("connection");
  if (conn !== null) {
    for (const name of conn.split(",")) {
      const n = name.trim().toLowerCase();
      // Host is end-to-end and required: a client must not be able to drop it by naming it here.
      if (n !== "" && n !== "host") h.delete(n);
    }
  }
  for (let i = 0; i < HOP_BY_HOP.length; i++) h.delete(HOP_BY_HOP[i]!);
}

/** Every header only nodes may set. A fixed list: deleting names is cheaper than scanning all headers. */
const INTERNAL_HEADERS = [NO_BACKEND_HEADER];

/** Drops our internal headers (a client must not speak for a node, nor see what nodes tell each other). */
export function stripInternal(h: Headers): void {
  for (let i = 0; i < INTERNAL_HEADERS.length; i++) h.delete(INTERNAL_HEADERS[i]!);
}

export interface ForwardedInfo {
  clientIp: string;
  proto: string;
  /** Our Via token, e.g. "1.1 node-a". */
  via: string;
  /** The request came from another ClusterClub node: keep its X-Forwarded-Proto/Host. */
  fromMember: boolean;
}

/** Prepares client request headers for the upstream: hop-by-hop out, X-Forwarded-* and Via in. Host is kept. */
export function prepareRequestHeaders(h: Headers, info: ForwardedInfo): void {
  stripHopByHop(h);
  if (!info.fromMember) stripInternal(h);
  const xff = h.get("x-forwarded-for");
  h.set("x-forwarded-for", xff ? `${xff}, ${info.clientIp}` : info.clientIp);
  if (!info.fromMember || !h.has("x-forwarded-proto")) h.set("x-forwarded-proto", info.proto);
  if (!info.fromMember || !h.has("x-forwarded-host")) {
    const host = h.get("host");
    if (host !== null) h.set("x-forwarded-host", host);
  }
  const via = h.get("via");
  h.set("via", via ? `${via}, ${info.via}` : info.via);
}

/** Prepares upstream response headers for the client. Set-Cookie fields stay separate. */
export function prepareResponseHeaders(h: Headers, toMember: boolean): void {
  stripHopByHop(h);
  if (!toMember) stripInternal(h);
}
