// The fields a refused request gets besides Retry-After: the IETF RateLimit-Policy and RateLimit
// fields (draft-ietf-httpapi-ratelimit-headers-10). A token bucket of `rate`/s and `burst` is stated as
// a quota of `burst` per burst/rate seconds; nothing is left (r=0) until the next token (t).

import type { Denial } from "./limiter.ts";

/** A structured-field string (RFC 9651 §3.3.3): limit names are config text. */
function sfString(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[^\x20-\x7e]/g, "?")}"`;
}

export function denialHeaders(d: Denial): Record<string, string> {
  const { name, rate, burst } = d.limit.cfg;
  const policy = sfString(name);
  const window = Math.max(1, Math.round(burst / rate));
  return {
    "ratelimit-policy": `${policy};q=${burst};w=${window}`,
    ratelimit: `${policy};r=0;t=${d.retryAfterS}`,
  };
}
