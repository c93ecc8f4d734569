// What the access log records of a proxied request, read from its context when the answer is made.

import type { AccessLog } from "../accesslog/index.ts";
import { requestId } from "./errors.ts";
import { CLIENT_PROTOCOLS } from "./protocol.ts";
import type { ProxyContext } from "./context.ts";
import type { ForwardingInfo } from "./request-head.ts";

/** "HTTP/1.1", "HTTP/2", "HTTP/3" by the client's protocol (protocol.ts tells them apart). */
const PROTOCOL_NAMES = CLIENT_PROTOCOLS.map((p) => `HTTP/${p}`);

function size(v: string | null): number {
  if (v === null) return -1;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : -1;
}

/**
 * One line for `ctx` answered with `res`: an upstream's answer (`id` null: one is made for the line) or
 * the node's own (`id` from its X-Request-Id); node and backend name the last target tried, if any.
 */
export function logAnswer(log: AccessLog, ctx: ProxyContext, res: Response, nodeName: string, bytesOut: string | null, id: string | null): void {
  const sel = ctx.sel;
  const tried = ctx.attempts > 0;
  const local = sel.peerName === undefined;
  const h = ctx.req.headers;
  log.record({
    clientIp: ctx.info.clientIp,
    method: ctx.method,
    path: ctx.routed.path,
    protocol: PROTOCOL_NAMES[ctx.protocol]!,
    status: res.status,
    bytesIn: ctx.upload === null ? 0 : size(h.get("content-length")),
    bytesOut: size(bytesOut),
    durationMs: performance.now() - ctx.start,
    pool: ctx.routed.pool,
    node: !tried ? "" : local ? nodeName : (sel.peerName ?? ""),
    backend: tried && local ? sel.name : "",
    attempts: ctx.attempts,
    requestId: id ?? requestId(),
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
    bytesIn: size(h.get("content-length")),
    bytesOut: size(res.headers.get("content-length")),
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
