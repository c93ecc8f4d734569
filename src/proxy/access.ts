// What the access log records of a proxied request, read from its context when the exchange ends: at the
// response headers for a body passed through untouched, when the body ends for a watched (streamed) one,
// when the tunnel closes for a WebSocket.

import type { AccessLog, AccessRecord } from "../accesslog/index.ts";
import { nextRequestSeq, REQUEST_ID_PREFIX } from "./errors.ts";
import { CLIENT_PROTOCOLS } from "./protocol.ts";
import type { ProxyContext } from "./context.ts";
import type { ForwardingInfo } from "./request-head.ts";
import type { RouteDecision } from "./routed.ts";
import type { Selection } from "./selection.ts";

/** "HTTP/1.1", "HTTP/2", "HTTP/3" by the client's protocol (protocol.ts tells them apart). */
const PROTOCOL_NAMES = CLIENT_PROTOCOLS.map((p) => `HTTP/${p}`);

/** A Content-Length value as a byte count, or -1 (the line's null) when absent or not a size. */
export function bodySize(v: string | null): number {
  if (v === null) return -1;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : -1;
}

/** The node's own answer, read back for its line (error paths only): its status, size and X-Request-Id. */
export function ownAnswer(res: Response): { status: number; bytesOut: number; id: string | null } {
  return { status: res.status, bytesOut: bodySize(res.headers.get("content-length")), id: res.headers.get("x-request-id") };
}

/**
 * The one record every line is filled into: record() encodes it into the log's buffer before it returns,
 * so nothing holds it after, and a line allocates no object of its own.
 */
const scratch: AccessRecord = {
  clientIp: "",
  method: "",
  path: "",
  protocol: "",
  status: 0,
  bytesIn: -1,
  bytesOut: -1,
  durationMs: 0,
  pool: "",
  node: "",
  backend: "",
  attempts: 0,
  requestId: "",
  requestSeq: -1,
  referer: null,
  userAgent: null,
};

/**
 * The fields every line takes from the request itself, its duration to `end` (performance.now() when the
 * exchange ended), and every other field reset; the caller fills in how it ended (status, bytes, pool, node,
 * backend, attempts, request id) before recording it.
 */
function line(log: AccessLog, req: Request, info: ForwardingInfo, path: string, start: number, end: number): AccessRecord {
  const r = scratch;
  r.clientIp = info.clientIp;
  r.method = req.method;
  r.path = path;
  r.protocol = PROTOCOL_NAMES[info.protocol]!;
  r.status = 0;
  r.bytesIn = -1;
  r.bytesOut = -1;
  r.durationMs = end - start;
  r.pool = "";
  r.node = "";
  r.backend = "";
  r.attempts = 0;
  r.requestId = "";
  r.requestSeq = -1;
  r.referer = log.wantsAgent ? req.headers.get("referer") : null;
  r.userAgent = log.wantsAgent ? req.headers.get("user-agent") : null;
  return r;
}

/**
 * Records the line, with its request id: the node's own answer's (`id`), or a new one, made of the prefix and
 * a number. The exchange ended at start + duration, which gives the line its time.
 */
function record(log: AccessLog, r: AccessRecord, id: string | null, start: number): void {
  if (id !== null) r.requestId = id;
  else {
    r.requestId = REQUEST_ID_PREFIX;
    r.requestSeq = nextRequestSeq();
  }
  log.record(r, start + r.durationMs);
}

/** Where the request went: its pool, and the node and local backend of the last target tried, if any. */
function target(r: AccessRecord, pool: string, sel: Selection, attempts: number, nodeName: string): void {
  r.pool = pool;
  r.attempts = attempts;
  if (attempts === 0) return;
  // A peer's backend is logged by that peer.
  r.node = sel.peerName ?? nodeName;
  if (sel.peerName === undefined) r.backend = sel.name;
}

/**
 * One line for `ctx` answered with `status`: an upstream's answer (`id` null: one is made for the line) or
 * the node's own (`id` from its X-Request-Id). `bytesOut` is the body handed to the client (-1: unknown).
 * A request body without Content-Length counts what was read from the client and passed on by now. `end`:
 * performance.now() when the exchange ended (the caller has read the clock already).
 */
export function logAnswer(log: AccessLog, ctx: ProxyContext, status: number, nodeName: string, bytesOut: number, id: string | null, end: number): void {
  const r = line(log, ctx.req, ctx.info, ctx.routed.path, ctx.start, end);
  const upload = ctx.upload;
  let bytesIn = 0;
  if (upload !== null) {
    bytesIn = bodySize(ctx.req.headers.get("content-length"));
    if (bytesIn < 0) bytesIn = upload.received;
  }
  r.status = status;
  r.bytesIn = bytesIn;
  r.bytesOut = bytesOut;
  target(r, ctx.routed.pool, ctx.sel, ctx.attempts, nodeName);
  record(log, r, id, ctx.start);
}

/**
 * One line for a WebSocket upgrade request: a tunnel that closed (status 101, message payload bytes each
 * way, duration from the request's arrival to the close) or an upgrade answered otherwise (its own status).
 */
export function logTunnel(
  log: AccessLog,
  req: Request,
  info: ForwardingInfo,
  routed: RouteDecision,
  sel: Selection,
  nodeName: string,
  start: number,
  end: { status: number; attempts: number; bytesIn: number; bytesOut: number; id: string | null },
): void {
  const r = line(log, req, info, routed.path, start, performance.now());
  r.status = end.status;
  r.bytesIn = end.bytesIn;
  r.bytesOut = end.bytesOut;
  target(r, routed.pool, sel, end.attempts, nodeName);
  record(log, r, end.id, start);
}

/** A request answered before it had a context (bad framing, too large, CONNECT, no route, rate limited). */
export function logRefusal(log: AccessLog, req: Request, info: ForwardingInfo, path: string, res: Response, start: number): void {
  const r = line(log, req, info, path, start, performance.now());
  const own = ownAnswer(res);
  r.status = own.status;
  r.bytesIn = bodySize(req.headers.get("content-length"));
  r.bytesOut = own.bytesOut;
  record(log, r, own.id, start);
}
