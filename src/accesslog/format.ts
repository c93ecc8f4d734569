// Access log lines: one per answered request, as JSON or as the combined format nginx and Apache write
// (with ClusterClub's fields appended as key=value), encoded straight into the log's byte buffer. Strings
// that come from the client are escaped; the time is formatted once per millisecond (JSON) or second
// (combined), not per line.

export type AccessFormat = "json" | "combined";

/** One answered request. */
export interface AccessRecord {
  clientIp: string;
  method: string;
  /** Path and query as received. */
  path: string;
  protocol: string;
  status: number;
  /** Content-Length, or for a chunked upload the bytes read and passed on; -1 when unknown. */
  bytesIn: number;
  /** Bytes handed to the client (Content-Length for small bodies passed through whole); -1 when unknown. */
  bytesOut: number;
  /**
   * ms from the request's arrival to the end of the exchange: the response handed over (small body), the
   * body's end (streamed), the tunnel's close (WebSocket).
   */
  durationMs: number;
  pool: string;
  /** The node whose backend served it (this node or the peer it was forwarded to), or "" when none did. */
  node: string;
  /** The local backend that served it, or "" (a peer's backend is logged by that peer). */
  backend: string;
  attempts: number;
  /** The request id; with requestSeq ≥ 0, its first part, which requestSeq's base-36 digits follow. */
  requestId: string;
  /** -1, or the sequence number that ends the id (written as digits, with no string made for it). */
  requestSeq: number;
  referer: string | null;
  userAgent: string | null;
}

/** Writes an ASCII string known to need no escaping (the time, our own ids and names); returns the end. */
function ascii(buf: Buffer, at: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[at++] = s.charCodeAt(i);
  return at;
}

/**
 * Writes `s` as a JSON string. Most values (addresses, names, plain paths) are printable ASCII and are
 * copied byte by byte; anything else (quotes, backslashes, control characters, non-ASCII) is written as
 * JSON.stringify writes it, as UTF-8.
 */
function jsonString(buf: Buffer, at: number, s: string): number {
  const start = at;
  buf[at++] = 0x22;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return start + buf.write(JSON.stringify(s), start);
    buf[at++] = c;
  }
  buf[at++] = 0x22;
  return at;
}

/** Writes a non-negative integer's digits. */
function uint(buf: Buffer, at: number, n: number): number {
  let digits = 1;
  for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
  let end = at + digits;
  for (let i = end - 1; i >= at; i--) {
    buf[i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  return end;
}

/** Writes a non-negative integer's base-36 digits (as Number.prototype.toString(36) does). */
function base36(buf: Buffer, at: number, n: number): number {
  let digits = 1;
  for (let m = n; m >= 36; m = Math.floor(m / 36)) digits++;
  const end = at + digits;
  for (let i = end - 1; i >= at; i--) {
    const d = n % 36;
    buf[i] = d < 10 ? 0x30 + d : 0x57 + d;
    n = Math.floor(n / 36);
  }
  return end;
}

/** A size, or null when unknown (< 0). */
function size(buf: Buffer, at: number, n: number): number {
  return n < 0 ? ascii(buf, at, "null") : uint(buf, at, n);
}

/** Writes 0–999 as exactly three digits (a fraction's, the time's milliseconds). */
function digits3(buf: Buffer, at: number, n: number): number {
  buf[at++] = 0x30 + Math.floor(n / 100);
  buf[at++] = 0x30 + (Math.floor(n / 10) % 10);
  buf[at++] = 0x30 + (n % 10);
  return at;
}

/** ms with 3 decimals (µs), without number-to-string conversion of a double. */
function ms3(buf: Buffer, at: number, ms: number): number {
  const us = Math.max(0, Math.round(ms * 1000));
  at = uint(buf, at, Math.floor(us / 1000));
  buf[at++] = 0x2e;
  return digits3(buf, at, us % 1000);
}

/**
 * Most bytes a record's line can take in either format: escaping writes at most 6 bytes per UTF-16 unit
 * ("\u001f"); the fixed text (JSON: 211 bytes with the quotes) and the numbers (sizes up to 16 digits, the
 * id's up to 6) fit in 320.
 */
export function lineBound(r: AccessRecord): number {
  const text = r.clientIp.length + r.method.length + r.path.length + r.protocol.length + r.pool.length + r.node.length +
    r.backend.length + r.requestId.length + (r.referer?.length ?? 0) + (r.userAgent?.length ?? 0);
  return 320 + 6 * text;
}

/** A line writer: encodes `r` at `at` in `buf` (with lineBound(r) bytes of room) and returns the end. */
export type LineEncoder = (r: AccessRecord, now: number, buf: Buffer, at: number) => number;

/** Copies bytes made once (a line's fixed text): twice as fast as reading a string literal's characters. */
function bytes(buf: Buffer, at: number, b: Uint8Array): number {
  for (let i = 0; i < b.length; i++) buf[at++] = b[i]!;
  return at;
}

const latin1 = (s: string): Uint8Array => Buffer.from(s, "latin1");

/** The JSON line's fixed text, as bytes. */
const J = {
  time: latin1('{"time":"'),
  clientIp: latin1('","client_ip":'),
  method: latin1(',"method":'),
  path: latin1(',"path":'),
  protocol: latin1(',"protocol":"'),
  status: latin1('","status":'),
  bytesIn: latin1(',"bytes_in":'),
  bytesOut: latin1(',"bytes_out":'),
  duration: latin1(',"duration_ms":'),
  pool: latin1(',"pool":'),
  node: latin1(',"node":'),
  backend: latin1(',"backend":'),
  attempts: latin1(',"attempts":'),
  requestId: latin1(',"request_id":'),
  end: latin1("}\n"),
};

/**
 * The time's ISO text up to its seconds ("2026-12-01T03:45:12."), as bytes made once per second: a line
 * writes its milliseconds and the "Z" itself, rather than a Date formatted every millisecond.
 */
let isoSec = -1;
let isoPrefix: Uint8Array = latin1("");

function isoTime(buf: Buffer, at: number, now: number): number {
  const sec = Math.floor(now / 1000);
  if (sec !== isoSec) {
    isoSec = sec;
    isoPrefix = latin1(new Date(sec * 1000).toISOString().slice(0, 20));
  }
  at = digits3(buf, bytes(buf, at, isoPrefix), now - sec * 1000);
  buf[at++] = 0x5a;
  return at;
}

/**
 * One JSON object per line, written straight into the log's buffer: a line made as a string first, then
 * encoded, cost about twice as much (bench/README.md, "The access log").
 */
export const jsonLine: LineEncoder = (r, now, buf, at) => {
  at = bytes(buf, at, J.time);
  at = isoTime(buf, at, now);
  at = bytes(buf, at, J.clientIp);
  at = jsonString(buf, at, r.clientIp);
  at = bytes(buf, at, J.method);
  at = jsonString(buf, at, r.method);
  at = bytes(buf, at, J.path);
  at = jsonString(buf, at, r.path);
  at = bytes(buf, at, J.protocol);
  at = ascii(buf, at, r.protocol);
  at = bytes(buf, at, J.status);
  at = uint(buf, at, r.status);
  at = bytes(buf, at, J.bytesIn);
  at = size(buf, at, r.bytesIn);
  at = bytes(buf, at, J.bytesOut);
  at = size(buf, at, r.bytesOut);
  at = bytes(buf, at, J.duration);
  at = ms3(buf, at, r.durationMs);
  at = bytes(buf, at, J.pool);
  at = jsonString(buf, at, r.pool);
  at = bytes(buf, at, J.node);
  at = jsonString(buf, at, r.node);
  at = bytes(buf, at, J.backend);
  at = jsonString(buf, at, r.backend);
  at = bytes(buf, at, J.attempts);
  at = uint(buf, at, r.attempts);
  at = bytes(buf, at, J.requestId);
  if (r.requestSeq >= 0) {
    // Our own id: the prefix and digits need no escaping.
    buf[at++] = 0x22;
    at = base36(buf, ascii(buf, at, r.requestId), r.requestSeq);
    buf[at++] = 0x22;
  } else at = jsonString(buf, at, r.requestId);
  return bytes(buf, at, J.end);
};

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

/** The combined format, made as a string (nginx's field escaping) and encoded as UTF-8. */
export const combinedLine: LineEncoder = (r, now, buf, at) =>
  at +
  buf.write(
    `${r.clientIp} - - [${clfNow(now)}] "${clfEscape(r.method)} ${clfEscape(r.path)} ${r.protocol}" ${r.status} ${r.bytesOut < 0 ? "-" : r.bytesOut} ` +
    `"${r.referer === null ? "-" : clfEscape(r.referer)}" "${r.userAgent === null ? "-" : clfEscape(r.userAgent)}" ` +
    `rt=${(r.durationMs / 1000).toFixed(3)} in=${r.bytesIn < 0 ? "-" : r.bytesIn} pool=${token(r.pool)} node=${token(r.node)} backend=${token(r.backend)} ` +
    `attempts=${r.attempts} id=${r.requestId}${r.requestSeq >= 0 ? r.requestSeq.toString(36) : ""}\n`,
    at,
  );
