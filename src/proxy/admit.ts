// The admit step: requests the node refuses before choosing a target, because a backend could read
// them differently than the node did. Bun.serve's parser already refuses broken framing (Content-Length
// with Transfer-Encoding, bad chunk sizes, obs-fold, bare CR/LF, oversized heads); this catches what it
// lets through. See test/chaos/hostile-http.test.ts.

import type { ProxyErrorKind } from "./errors.ts";
import { parseContentLength } from "./upstream/head.ts";

/** uri-host [":" port] (RFC 9110 §7.2, RFC 3986): an IP literal, or a reg-name of unreserved, pct-encoded and sub-delims. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(?::\d*)?$/;

export interface Refusal {
  kind: ProxyErrorKind;
  reason: string;
}

/** The request fields admission looks at (one scan of the head gives them). */
export interface AdmittedFields {
  readonly host: string | null;
  readonly contentLength: string | null;
  readonly transferEncoding: string | null;
}

/**
 * Why the request must not be forwarded, or undefined to admit it. Framing is checked here with the
 * upstream client's own rule, so an admitted request can always be written: a request we cannot send
 * is the client's fault and must never count against a backend.
 */
export function refusal(method: string, h: AdmittedFields, maxBodyBytes: number): Refusal | undefined {
  // A tunnel to a client-chosen address is not what a load balancer is for.
  if (method === "CONNECT") return { kind: "not_allowed", reason: "CONNECT is not supported" };
  // Repeated Host fields reach us joined with ", " (never valid), as does a Host with a path or userinfo.
  const host = h.host;
  if (host !== null && !HOST.test(host)) return { kind: "bad_request", reason: "invalid Host" };
  // Bun refuses different repeated lengths but joins identical ones ("3, 3"), which the upstream side
  // cannot send; nor can it send a length beyond 15 digits.
  const cl = h.contentLength;
  if (cl !== null) {
    const n = parseContentLength(cl);
    if (n < 0) return { kind: "bad_request", reason: "invalid Content-Length" };
    if (maxBodyBytes > 0 && n > maxBodyBytes) return { kind: "too_large", reason: "" };
  }
  // We re-frame bodies ourselves; a coding other than a final "chunked" cannot be framed (RFC 9112 §6.3).
  const te = h.transferEncoding;
  if (te !== null && (cl !== null || !/(?:^|,)\s*chunked\s*$/i.test(te))) return { kind: "bad_request", reason: "invalid Transfer-Encoding" };
  return undefined;
}
