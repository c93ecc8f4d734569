// Hop-by-hop fields (RFC 9110 §7.6.1, plus the de-facto ones proxies also drop): they describe one
// connection and never cross a proxy, in either direction. A Connection field may name more.

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"]);

/** `name` lower-cased. */
export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name);
}

/**
 * Field names a Connection value lists beyond the standard hop-by-hop ones (lower-cased), or null when
 * there are none (the usual "keep-alive", "close", "Upgrade"). Host is end-to-end and required: naming it
 * here must not drop it.
 */
export function connectionListed(value: string): Set<string> | null {
  let out: Set<string> | null = null;
  for (const token of value.split(",")) {
    const n = token.trim().toLowerCase();
    if (n === "" || n === "close" || n === "host" || HOP_BY_HOP.has(n)) continue;
    (out ??= new Set()).add(n);
  }
  return out;
}
