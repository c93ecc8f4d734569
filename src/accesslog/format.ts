// Access log lines: one per answered request, as JSON or as the combined format nginx and Apache write
// (with ClusterClub's fields appended as key=value). Strings that come from the client are escaped; the
// time is formatted once per millisecond (JSON) or second (combined), not per line.

export type AccessFormat = "json" | "combined";

/** One answered request. */
export interface AccessRecord {
  clientIp: string;
  method: string;
  /** Path and query as received. */
  path: string;
  protocol: string;
  status: number;
  /** Request body size from Content-Length, or -1 when not known in advance (chunked). */
  bytesIn: number;
  /** Response body size from Content-Length, or -1 when streamed without one. */
  bytesOut: number;
  /** ms from the request's arrival to its response headers being handed back. */
  durationMs: number;
  pool: string;
  /** The node whose backend served it (this node or the peer it was forwarded to), or "" when none did. */
  node: string;
  /** The local backend that served it, or "" (a peer's backend is logged by that peer). */
  backend: string;
  attempts: number;
  requestId: string;
  referer: string | null;
  userAgent: string | null;
}

let isoMs = -1;
let iso = "";

function isoNow(now: number): string {
  if (now !== isoMs) {
    isoMs = now;
    iso = new Date(now).toISOString();
  }
  return iso;
}

/** Characters a JSON string must escape. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must be escaped
const NEEDS_ESCAPE = /["\\\x00-\x1f\u2028\u2029]/;

/** A JSON string; most values (addresses, names, plain paths) need no escaping, so JSON.stringify runs only for the rest. */
function str(v: string): string {
  return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
}

/** ms with 3 decimals, without toFixed's cost. */
function ms3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

export function jsonLine(r: AccessRecord, now: number): string {
  return (
    `{"time":"${isoNow(now)}","client_ip":${str(r.clientIp)},"method":${str(r.method)},"path":${str(r.path)},` +
    `"protocol":"${r.protocol}","status":${r.status},"bytes_in":${r.bytesIn < 0 ? "null" : r.bytesIn},"bytes_out":${r.bytesOut < 0 ? "null" : r.bytesOut},` +
    `"duration_ms":${ms3(r.durationMs)},"pool":${str(r.pool)},"node":${str(r.node)},"backend":${str(r.backend)},` +
    `"attempts":${r.attempts},"request_id":"${r.requestId}"}\n`
  );
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
let clfSec = -1;
let clf = "";

/** [10/Oct/2000:13:55:36 +0000], in UTC. */
function clfNow(now: number): string {
  const sec = Math.floor(now / 1000);
  if (sec !== clfSec) {
    clfSec = sec;
    const d = new Date(now);
    const p = (n: number) => String(n).padStart(2, "0");
    clf = `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
  }
  return clf;
}

/** A quoted field's content as nginx writes it: `"`, `\` and control bytes as \xHH. */
function clfEscape(v: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
  return /["\\\x00-\x1f\x7f]/.test(v) ? v.replace(/["\\\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`) : v;
}

/** A key=value token: spaces would split it, so they and quotes are escaped too. */
function token(v: string): string {
  return v === "" ? "-" : clfEscape(v).replaceAll(" ", "\\x20");
}

export function combinedLine(r: AccessRecord, now: number): string {
  return (
    `${r.clientIp} - - [${clfNow(now)}] "${clfEscape(r.method)} ${clfEscape(r.path)} ${r.protocol}" ${r.status} ${r.bytesOut < 0 ? "-" : r.bytesOut} ` +
    `"${r.referer === null ? "-" : clfEscape(r.referer)}" "${r.userAgent === null ? "-" : clfEscape(r.userAgent)}" ` +
    `rt=${(r.durationMs / 1000).toFixed(3)} in=${r.bytesIn < 0 ? "-" : r.bytesIn} pool=${token(r.pool)} node=${token(r.node)} backend=${token(r.backend)} ` +
    `attempts=${r.attempts} id=${r.requestId}\n`
  );
}
