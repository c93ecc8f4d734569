// The HTTP version a client spoke to this node. Upstreams are always HTTP/1.1 (our pooled client or
// fetch); the client's version shows in Via ("2 node-a", RFC 9110 §7.6.3) and in the request counter.
//
// Bun 1.4.4 does not say on a Request which version carried it. HTTP/3 is told apart by listener (the
// QUIC listener is a Bun.serve of its own). HTTP/1.1 and HTTP/2 share the TCP listener; what differs is
// where `host` sits. An HTTP/1.1 client sends Host first (RFC 9110 §7.2 says it SHOULD), and Bun keeps
// the wire order; Bun builds an h2 request's fields as the client's regular fields followed by `host`,
// made from :authority. Headers iterate sorted, but Bun's toJSON() keeps the order (well-known names
// first, in arrival order, then the others), so that is where we look (README, Operating limits).

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
 * Fields an HTTP/1.1 client commonly sends after Host (Node's http client ends with Connection); Bun
 * lists them among its well-known names, so one right after `host` means Host was not appended by h2.
 */
const AFTER_HOST_IN_H1 = new Set(["connection", "user-agent", "accept", "accept-encoding", "accept-language", "content-type", "content-length", "transfer-encoding", "cookie", "authorization", "referer", "origin", "cache-control", "upgrade", "via", "x-forwarded-for"]);

/**
 * On the TCP listener with http2 on: whether Bun built this request from HTTP/2 frames. `host` not first,
 * and no well-known field right after it. About 0.3 µs (one toJSON).
 */
export function looksLikeH2(h: Headers): boolean {
  let seenHost = false;
  let first = true;
  for (const name in h.toJSON()) {
    if (seenHost) return !AFTER_HOST_IN_H1.has(name);
    if (name === "host") {
      if (first) return false;
      seenHost = true;
    }
    first = false;
  }
  return seenHost;
}
