// The HTTP version a client spoke to this node. Upstreams are always HTTP/1.1 (our pooled client or
// fetch); the client's version shows in Via ("2 node-a", RFC 9110 §7.6.3) and in the request counter.
//
// Bun 1.4.4 does not say on a Request which version carried it. HTTP/3 is told apart by listener (the
// QUIC listener is a Bun.serve of its own). HTTP/1.1 and HTTP/2 share the TCP listener; what differs is
// where `host` sits. Bun builds an h2 request's fields as the client's regular fields followed by `host`,
// made from :authority, so host is its last well-known field; HTTP/1.1 clients send Host first (RFC 9110
// §7.2 says they SHOULD) or among their fields (Bun's fetch: after Accept, before Accept-Encoding), and Bun
// keeps the wire order. Headers iterate sorted, but Bun's toJSON() keeps the order (well-known names first,
// in arrival order, then the others), so that is where we look (README, Operating limits).

export const CLIENT_PROTOCOLS = ["1.1", "2", "3"] as const;
export type ClientProtocol = (typeof CLIENT_PROTOCOLS)[number];
/** Index into CLIENT_PROTOCOLS: 0 = HTTP/1.1, 1 = HTTP/2, 2 = HTTP/3. */
export type ProtocolIndex = 0 | 1 | 2;

export const HTTP1: ProtocolIndex = 0;
export const HTTP2: ProtocolIndex = 1;
export const HTTP3: ProtocolIndex = 2;

/** Our Via token for each client protocol: "1.1 node-a", "2 node-a", "3 node-a". */
export function viaTokens(nodeName: string): readonly string[] {
  return CLIENT_PROTOCOLS.map((p) => `${p} ${nodeName}`);
}

/** The Alt-Svc value that tells a client HTTP/3 is on UDP `port` (what Bun itself sends: a day's max-age). */
export function altSvc(port: number): string {
  return `h3=":${port}"; ma=86400`;
}

/**
 * Header names Bun's Headers keeps in its well-known section (WebKit's HTTPHeaderNames): toJSON() lists
 * those first, in arrival order, then the others. Only the candidates Bun really treats so are kept,
 * checked once here: such a name is listed before an unknown one that was added first.
 */
const WELL_KNOWN: ReadonlySet<string> = new Set(
  [
    "accept", "accept-charset", "accept-encoding", "accept-language", "accept-ranges", "authorization", "cache-control", "connection",
    "content-disposition", "content-encoding", "content-language", "content-length", "content-location", "content-range", "content-type",
    "cookie", "date", "dnt", "etag", "expect", "expires", "if-match", "if-modified-since", "if-none-match", "if-range",
    "if-unmodified-since", "keep-alive", "last-event-id", "last-modified", "origin", "pragma", "proxy-authorization", "range", "referer",
    "sec-fetch-dest", "sec-fetch-mode", "sec-fetch-site", "sec-fetch-user", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-protocol", "sec-websocket-extensions", "te", "trailer", "transfer-encoding", "upgrade", "upgrade-insecure-requests",
    "user-agent", "via",
  ].filter((name) => Object.keys(new Headers([["x-clusterclub-probe", "1"], [name, "1"]]).toJSON())[0] === name),
);

/**
 * On the TCP listener with http2 on: whether Bun built this request from HTTP/2 frames, i.e. `host` comes
 * after some well-known field and before none. About 0.3 µs (one toJSON). An HTTP/1.1 request with Host as
 * its last well-known field (after at least one other) is taken for h2; an h2 request with no well-known
 * field but host for HTTP/1.1.
 */
export function looksLikeH2(h: Headers): boolean {
  let before = false;
  let host = false;
  // Everything listed before host is well-known (that section comes first).
  for (const name in h.toJSON()) {
    if (host) {
      if (WELL_KNOWN.has(name)) return false;
    } else if (name === "host") {
      if (!before) return false;
      host = true;
    } else before = true;
  }
  return host;
}
