// WebSocket tunnelling: the upstream socket (a local backend or a peer node, chosen by the same
// two-tier Selection) is opened first; only once it is open is the client upgraded, so a failed
// backend is retried like any connect failure and the client never sees a half-made tunnel.
// Messages flow both ways as they come; close codes and reasons pass through.

import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import type { Logger } from "../log.ts";
import { errorResponse, requestId } from "./errors.ts";
import type { PeerTls } from "./forward.ts";
import { errorCode } from "../netutil.ts";
import { isConnectFailureCode } from "./upstream/errors.ts";
import { POOL_HEADER } from "./headers.ts";
import type { RouteDecision } from "./routed.ts";
import type { Selection } from "./selection.ts";

/** One upgrade request's routing: where it may go and what to tell the upstream. */
export interface UpgradeRoute {
  /** The client's fields, prepared for the upstream. */
  headers: Headers;
  sel: Selection;
  routed: RouteDecision;
  timeoutMs: number;
  peerTls: PeerTls | undefined;
  onConnectFailure(pool: string, name: string, code: string): void;
  /** The access log's ear, or null when the log is off. */
  log: TunnelLog | null;
}

/** What the access log hears of an upgrade request: one of the two, once. */
export interface TunnelLog {
  /** The upgrade was answered with `res` instead of a tunnel (refused, failed, no target). */
  refused(res: Response, attempts: number): void;
  /** The tunnel closed, having carried these message payload bytes client→upstream (in) and back (out). */
  closed(attempts: number, bytesIn: number, bytesOut: number): void;
}

export interface TunnelData {
  upstream: WebSocket;
  /** Messages that arrived from upstream before the client side opened. */
  pending: (string | ArrayBuffer)[] | null;
  client: ServerWebSocket<TunnelData> | null;
  /** Message payload bytes from the client to the upstream, and back. */
  bytesIn: number;
  bytesOut: number;
  attempts: number;
  log: TunnelLog | null;
  /** Its backend's pick: a tunnel counts in flight (least_conn, p2c_ewma) until it closes. */
  sel: Selection;
}

/** Payload bytes of a message: a string's UTF-8 length, a binary message's length. */
function payloadBytes(m: string | ArrayBuffer | Uint8Array): number {
  return typeof m === "string" ? Buffer.byteLength(m) : m.byteLength;
}

/** Per-connection send buffer above which a slow client is disconnected, bounding memory. */
const BACKPRESSURE_LIMIT = 4 * 1024 * 1024;

// Codes that may not be sent in a close frame (RFC 6455 §7.4.1): reserved or "no code".
function sendableCode(code: number): number {
  if (code === 1000 || (code >= 1001 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)) return code;
  return code === 1005 ? 1000 : 1011;
}

function isWsUrl(origin: string): string {
  return origin.startsWith("https:") ? `wss:${origin.slice(6)}` : `ws:${origin.slice(5)}`;
}

/** How opening the upstream WebSocket ended when it did not open. */
type OpenFailure =
  /** The socket could not be opened: the only outcome that says something about the target's health. */
  | { kind: "connect"; code: string }
  /** The upstream answered the handshake with something other than 101, or dropped it. */
  | { kind: "refused"; code: string }
  | { kind: "timeout"; code: string };

function isOpenFailure(r: WebSocket | OpenFailure): r is OpenFailure {
  return !(r instanceof WebSocket);
}

/**
 * Code on the error a failed WebSocket carries (ECONNREFUSED, ECONNRESET…); for a refused handshake,
 * "status_<n>" from Bun's "Expected 101 status code: <n>", else "handshake_refused".
 */
function wsErrorCode(e: Event): string {
  const code = e instanceof ErrorEvent ? errorCode(e.error) : undefined;
  if (code !== undefined) return code;
  const status = e instanceof ErrorEvent ? /status code: (\d{3})/.exec(e.message) : null;
  return status ? `status_${status[1]}` : "handshake_refused";
}

/** Opens the upstream WebSocket; resolves once open, or with why it did not open. */
function openUpstream(url: string, headers: Headers, protocols: string[], timeoutMs: number, tls: PeerTls | undefined): Promise<WebSocket | OpenFailure> {
  return new Promise((resolve) => {
    const h: Record<string, string> = {};
    headers.forEach((v, k) => {
      // The WebSocket client writes its own handshake fields.
      if (!k.startsWith("sec-websocket-") && k !== "upgrade" && k !== "connection") h[k] = v;
    });
    let ws: WebSocket;
    try {
      const options: Bun.WebSocketOptions = { headers: h, protocols, tls };
      ws = new WebSocket(url, options);
    } catch {
      return resolve({ kind: "refused", code: "bad_request" });
    }
    ws.binaryType = "arraybuffer";
    // Bun's client does not say whether the TCP connect or the handshake timed out: not a health signal.
    const timer = setTimeout(() => {
      ws.close();
      resolve({ kind: "timeout", code: "timeout" });
    }, timeoutMs);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve(ws);
    };
    ws.onerror = (e) => {
      clearTimeout(timer);
      const code = wsErrorCode(e);
      resolve(isConnectFailureCode(code) ? { kind: "connect", code } : { kind: "refused", code });
    };
  });
}

export class WebSocketTunnel {
  opened = 0;
  active = 0;

  constructor(private readonly log: Logger) {}

  /**
   * Tunnels an upgrade request. Returns undefined once the client was upgraded (Bun then owns the
   * socket), or an error Response.
   */
  async upgrade(req: Request, server: Server<TunnelData>, route: UpgradeRoute): Promise<Response | undefined> {
    const { headers: upstreamHeaders, sel, routed, timeoutMs, peerTls, onConnectFailure, log } = route;
    let tries = 0;
    const answer = (res: Response): Response => {
      log?.refused(res, tries);
      return res;
    };
    const protocolHeader = req.headers.get("sec-websocket-protocol");
    const protocols = protocolHeader ? protocolHeader.split(",").map((p) => p.trim()).filter(Boolean) : [];
    while (tries < 8 && sel.next()) {
      tries++;
      const tls = sel.peerName === undefined ? undefined : peerTls;
      // A peer gets the client's path and our route decision; a backend the path the route gives it.
      if (sel.peerName === undefined) upstreamHeaders.delete(POOL_HEADER);
      else upstreamHeaders.set(POOL_HEADER, routed.signal);
      const path = sel.peerName === undefined ? routed.backendPath : routed.path;
      sel.begin();
      const upstream = await openUpstream(isWsUrl(sel.origin) + path, upstreamHeaders, protocols, timeoutMs, tls);
      if (isOpenFailure(upstream)) {
        sel.release();
        // A handshake the upstream refused is its answer to this client, not a sign of ill health:
        // the backend stays up and the client gets 502 (or 504), with no retry elsewhere.
        if (upstream.kind === "timeout") return answer(errorResponse("timeout", requestId(), { detail: "websocket" }));
        // A peer node's 503 means it has no healthy backend after all: nothing was served, try another node.
        if (upstream.kind === "refused" && !(sel.peerName !== undefined && upstream.code === "status_503")) {
          return answer(errorResponse("bad_gateway", requestId(), { detail: `websocket ${upstream.code}` }));
        }
        if (sel.backendIndex >= 0) onConnectFailure(routed.pool, sel.name, upstream.code);
        sel.exclude();
        continue;
      }
      const data: TunnelData = { upstream, pending: [], client: null, bytesIn: 0, bytesOut: 0, attempts: tries, log, sel };
      upstream.onmessage = (e: MessageEvent) => {
        const m = e.data as string | ArrayBuffer;
        // Counted for the access log only: a text message's UTF-8 length is a pass over it.
        if (data.log !== null) data.bytesOut += payloadBytes(m);
        if (data.client) data.client.send(m);
        else data.pending?.push(m);
      };
      upstream.onclose = (e: CloseEvent) => {
        // The backend went away or closed: close the client side with its code (1011 if it just dropped).
        data.client?.close(sendableCode(e.code === 1006 ? 1011 : e.code), e.reason);
        data.pending = null;
      };
      const headers = upstream.protocol ? { "sec-websocket-protocol": upstream.protocol } : undefined;
      if (server.upgrade(req, { data, headers })) {
        this.opened++;
        return undefined;
      }
      sel.release();
      upstream.close(1011, "client upgrade failed");
      return answer(errorResponse("bad_request", requestId(), { detail: "websocket upgrade" }));
    }
    return answer(errorResponse(tries === 0 ? "no_backend" : "bad_gateway", requestId(), { detail: "websocket" }));
  }

  readonly handler: WebSocketHandler<TunnelData> = {
    backpressureLimit: BACKPRESSURE_LIMIT,
    closeOnBackpressureLimit: true,
    open: (ws) => {
      this.active++;
      const d = ws.data;
      d.client = ws;
      if (d.pending) for (const m of d.pending) ws.send(m);
      d.pending = null;
      if (d.upstream.readyState >= WebSocket.CLOSING) ws.close(1011, "upstream closed");
    },
    message: (ws, message) => {
      const d = ws.data;
      if (d.log !== null) d.bytesIn += payloadBytes(message);
      const up = d.upstream;
      if (up.readyState === WebSocket.OPEN) up.send(message);
    },
    close: (ws, code, reason) => {
      this.active--;
      const d = ws.data;
      d.sel.release();
      d.log?.closed(d.attempts, d.bytesIn, d.bytesOut);
      d.log = null;
      const up = d.upstream;
      if (up.readyState === WebSocket.OPEN || up.readyState === WebSocket.CONNECTING) up.close(sendableCode(code), reason);
      this.log.debug("websocket closed", { code });
    },
  };
}
