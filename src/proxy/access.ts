// What the access log records of a proxied request, read from its context when the exchange ends: at the
// response headers for a body passed through untouched, when the body ends for a watched (streamed) one,
// when the tunnel closes for a WebSocket.

import type { AccessLog } from "../accesslog/index.ts";
import { requestId } from "./errors.ts";
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

/** The node field: the node of the last target tried (this one or a peer), "" when none was. */
function nodeOf(sel: Selection, attempts: number, nodeName: string): string {
  return attempts === 0 ? "" : (sel.peerName ?? nodeName);
}

/** The backend field: the last local backend tried, "" otherwise (a peer's backend is logged by that peer). */
function backendOf(sel: Selection, attempts: number): string {
  return attempts > 0 && sel.peerName === undefined ? sel.name : "";
}

/**
 * One line for `ctx` answered with `status`: an upstream's answer (`id` null: one is made for the line) or
 * the node's own (`id` from its X-Request-Id). `bytesOut` is the body handed to the client (-1: unknown).
 * A request body without Content-Length counts what was read from the client and passed on by now.
 */
export function logAnswer(log: AccessLog, ctx: ProxyContext, status: number, nodeName: string, bytesOut: number, id: string | null): void {
  const h = ctx.req.headers;
  const upload = ctx.upload;
  let bytesIn = 0;
  if (upload !== null) {
    bytesIn = bodySize(h.get("content-length"));
    if (bytesIn < 0) bytesIn = upload.received;
  }
  log.record({
    clientIp: ctx.info.clientIp,
    method: ctx.method,
    path: ctx.routed.path,
    protocol: PROTOCOL_NAMES[ctx.protocol]!,
    status,
    bytesIn,
    bytesOut,
    durationMs: performance.now() - ctx.start,
    pool: ctx.routed.pool,
    node: nodeOf(ctx.sel, ctx.attempts, nodeName),
    backend: backendOf(ctx.sel, ctx.attempts),
    attempts: ctx.attempts,
    requestId: id ?? requestId(),
    referer: log.wantsAgent ? h.get("referer") : null,
    userAgent: log.wantsAgent ? h.get("user-agent") : null,
  });
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
  const h = req.headers;
  log.record({
    clientIp: info.clientIp,
    method: req.method,
    path: routed.path,
    protocol: PROTOCOL_NAMES[info.protocol]!,
    status: end.status,
    bytesIn: end.bytesIn,
    bytesOut: end.bytesOut,
    durationMs: performance.now() - start,
    pool: routed.pool,
    node: nodeOf(sel, end.attempts, nodeName),
    backend: backendOf(sel, end.attempts),
    attempts: end.attempts,
    requestId: end.id ?? requestId(),
    referer: log.wantsAgent ? h.get("referer") : null,
    userAgent: log.wantsAgent ? h.get("user-agent") : null,
  });
}

/** A request answered before it had a context (bad framing, too large, CONNECT, no route, rate limited). */
export function logRefusal(log: AccessLog, req: Request, info: ForwardingInfo, path: string, res: Response, start: number): void {
  const { clientIp, protocol } = info;
  const h = req.headers;
  log.record({
    clientIp,
    method: req.method,
    path,
    protocol: PROTOCOL_NAMES[protocol]!,
    status: res.status,
    bytesIn: bodySize(h.get("content-length")),
    bytesOut: bodySize(res.headers.get("content-length")),
    durationMs: performance.now() - start,
    pool: "",
    node: "",
    backend: "",
    attempts: 0,
    requestId: res.headers.get("x-request-id") ?? requestId(),
    referer: log.wantsAgent ? h.get("referer") : null,
    userAgent: log.wantsAgent ? h.get("user-agent") : null,
  });
}
