// The data plane: Bun.serve in, two-tier selection from the current routing snapshot, fetch out,
// with failover. Steps, in order: admit → mark hop → choose (node, then backend) → attempt → answer.

import type { Server } from "bun";
import type { ProxyConfig } from "../config/schema.ts";
import type { RoutingSnapshot } from "../routing/snapshot.ts";
import type { DataPlane } from "./dataplane.ts";
import type { Logger } from "../log.ts";
import type { Router } from "../routing/router.ts";
import type { TimingWheel } from "../timer/wheel.ts";
import { errorResponse, requestId } from "./errors.ts";
import { refusal } from "./admit.ts";
import { attempt, type PeerTls } from "./forward.ts";
import { NO_BACKEND_HEADER, prepareRequestHeaders, prepareResponseHeaders } from "./headers.ts";
import { Selection } from "./selection.ts";
import { UpstreamClient } from "./upstream/client.ts";
import { RequestBody, WATCH_RESPONSES_FROM, watchDownload } from "./transfer.ts";
import { type TunnelData, WebSocketTunnel } from "./websocket.ts";
import type { ProxyStats, TargetStats } from "./stats.ts";

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);
const MAX_ATTEMPTS = 8;

export interface ProxyDeps {
  cfg: ProxyConfig;
  nodeName: string;
  /** Read on every request; the control plane installs new snapshots into it. */
  router: Router;
  stats: ProxyStats;
  wheel: TimingWheel;
  log: Logger;
  /** Passive health: a local backend refused or could not be reached. */
  onConnectFailure(backendAddress: string, code: string): void;
  /** Seconds for Retry-After on 503. */
  retryAfterS: number;
  /** TLS options for forwarding to peers over https (cluster.tls). */
  peerTls?: PeerTls;
  /** Several processes listen on the same port (workers). */
  reusePort?: boolean;
  /** Connect timeout for forwards to peer nodes: a silent peer must not hold a request for response_timeout. */
  peerConnectTimeoutMs?: number;
}

/** Connect timeout for local backends (a connect failure also marks the backend down). */
const BACKEND_CONNECT_TIMEOUT_MS = 3000;

/** Request bodies above this size (or of unknown size) are watched (see transfer.ts). */
const WATCH_UPLOADS_FROM = 64 * 1024;

/** A response that may take longer than the idle timeout to drain: unknown or large length. */
function isLarge(h: Headers): boolean {
  const cl = h.get("content-length");
  return cl === null || Number(cl) >= WATCH_RESPONSES_FROM;
}

function isWebSocketUpgrade(req: Request): boolean {
  return req.method === "GET" && req.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/** Path and query of an absolute request URL, without parsing it into a URL object. */
export function pathOf(url: string): string {
  const scheme = url.indexOf("://");
  const slash = url.indexOf("/", scheme < 0 ? 0 : scheme + 3);
  return slash < 0 ? "/" : url.slice(slash);
}

export class ProxyServer implements DataPlane {
  private server: Server<TunnelData> | undefined;
  readonly websockets: WebSocketTunnel;
  private readonly via: string;
  private readonly proto: string;
  private redirect: Server<undefined> | undefined;
  private readonly backendClient: UpstreamClient | null;
  private readonly peerClient: UpstreamClient | null;
  /** Peers we may hold pooled connections to: address → proxy port. */
  private readonly peerTargets = new Map<string, number>();
  private readonly targetStats = new Map<string, TargetStats>();

  constructor(private readonly d: ProxyDeps) {
    this.via = `1.1 ${d.nodeName}`;
    // The pooled HTTP/1.1 client serves plain-HTTP upstreams; fetch stays for https peers and as an option.
    const pooled = d.cfg.upstreamClient === "pooled";
    this.backendClient = pooled ? new UpstreamClient({ connectTimeoutMs: BACKEND_CONNECT_TIMEOUT_MS }) : null;
    this.peerClient = pooled && !d.peerTls ? new UpstreamClient({ connectTimeoutMs: d.peerConnectTimeoutMs ?? 1000 }) : null;
    this.proto = d.cfg.tls ? "https" : "http";
    this.websockets = new WebSocketTunnel(d.log);
  }

  get port(): number {
    return this.server?.port ?? 0;
  }

  /** Live settings (timeouts) from a reloaded config; listener settings need a restart. */
  setConfig(cfg: ProxyConfig): void {
    this.d.cfg = cfg;
  }

  get inFlight(): number {
    return this.server?.pendingRequests ?? 0;
  }

  get websocketsActive(): number {
    return this.websockets.active;
  }

  /**
   * A new snapshot (the router itself is shared with the control plane in this process). A peer that
   * left the set of alive peers loses its pooled connections at once: requests waiting on a node that
   * went silent fail now and are retried elsewhere when safe, instead of waiting for response_timeout.
   */
  publish(snapshot: RoutingSnapshot): void {
    if (!this.peerClient) return;
    const alive = new Set(snapshot.aliveAddresses);
    for (const [host, port] of this.peerTargets) {
      if (!alive.has(host)) {
        this.peerClient.abandon(host, port);
        this.peerTargets.delete(host);
      }
    }
    for (const p of snapshot.peers) this.peerTargets.set(p.host, p.port);
  }

  async start(): Promise<void> {
    const cfg = this.d.cfg;
    this.server = Bun.serve({
      hostname: cfg.bindAddress,
      port: cfg.listenPort,
      reusePort: this.d.reusePort ?? false,
      idleTimeout: Math.min(255, Math.ceil(cfg.idleTimeoutMs / 1000)),
      // 0 = unlimited: Bun's own default would cut uploads at 128 MiB.
      maxRequestBodySize: cfg.maxBodyBytes > 0 ? cfg.maxBodyBytes : Number.MAX_SAFE_INTEGER,
      development: false,
      tls: cfg.tls?.certs.map((c) => ({ cert: Bun.file(c.certPath), key: Bun.file(c.keyPath), serverName: c.serverName })),
      fetch: (req, server) => this.handle(req, server),
      websocket: this.websockets.handler,
      error: (err) => {
        const id = requestId();
        this.d.log.error("proxy handler failed", { id, error: err });
        return errorResponse("bad_gateway", id);
      },
    });
    this.startRedirect();
  }

  /** With TLS and redirect_port: a plain listener that sends every request to the HTTPS URL. */
  private startRedirect(): void {
    const port = this.d.cfg.tls?.redirectPort;
    if (port === undefined) return;
    const httpsPort = this.port;
    this.redirect = Bun.serve({
      hostname: this.d.cfg.bindAddress,
      port,
      development: false,
      fetch(req) {
        const url = new URL(req.url);
        url.protocol = "https:";
        url.port = httpsPort === 443 ? "" : String(httpsPort);
        return new Response(null, { status: 308, headers: { location: url.href } });
      },
    });
  }

  get redirectPort(): number {
    return this.redirect?.port ?? 0;
  }

  /** Stops accepting; waits for in-flight requests up to `drainMs`, then closes the rest. */
  async stop(drainMs: number): Promise<void> {
    const s = this.server;
    if (!s) return;
    void this.redirect?.stop(true);
    const graceful = s.stop(false);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, drainMs);
    });
    await Promise.race([graceful, deadline]);
    clearTimeout(timer);
    await s.stop(true);
    this.backendClient?.close();
    this.peerClient?.close();
  }

  private stats(name: string): TargetStats {
    let t = this.targetStats.get(name);
    if (!t) {
      t = this.d.stats.target(name);
      this.targetStats.set(name, t);
    }
    return t;
  }

  private local(status: number, res: Response): Response {
    this.d.stats.recordLocal(status);
    return res;
  }

  async handle(req: Request, server: Server<TunnelData>): Promise<Response | undefined> {
    const d = this.d;
    const refused = refusal(req.method, req.headers, d.cfg.maxBodyBytes);
    if (refused) {
      const res = errorResponse(refused.kind, requestId(), { detail: refused.reason });
      return this.local(res.status, res);
    }
    const router = d.router;
    const clientIp = server.requestIP(req)?.address ?? "unknown";
    // A member's request took its one hop already: serve it here, never forward it again.
    const fromMember = router.isFromMember(clientIp, req.headers.get("via"));
    // Only a member's own address vouches for its X-Forwarded-* and internal headers: a Via naming a
    // member can be forged by any client and must cost it balancing, nothing more.
    const trusted = fromMember && router.isMemberAddress(clientIp);
    if (isWebSocketUpgrade(req)) {
      // The client's handshake fields must stay on `req` for Bun's upgrade; the upstream gets a prepared copy.
      const upstreamHeaders = new Headers(req.headers);
      prepareRequestHeaders(upstreamHeaders, { clientIp, proto: this.proto, via: this.via, fromMember: trusted });
      const sel = new Selection(router, d.nodeName, fromMember);
      return this.websockets.upgrade(req, upstreamHeaders, server, sel, pathOf(req.url), d.cfg.responseTimeoutMs, d.peerTls, d.onConnectFailure);
    }
    prepareRequestHeaders(req.headers, { clientIp, proto: this.proto, via: this.via, fromMember: trusted });

    const path = pathOf(req.url);
    const method = req.method;
    const body = method === "GET" || method === "HEAD" ? null : req.body;
    // A body can be replayed to another target after a connect failure; one that may take long
    // (unknown or large size) is also watched, so a steady upload outlives the connection idle timer
    // while a stalled one is still cut.
    let upload: RequestBody | null = null;
    if (body !== null) {
      const cl = req.headers.get("content-length");
      const watched = cl === null || Number(cl) > WATCH_UPLOADS_FROM;
      upload = new RequestBody(body, server, req, d.cfg.idleTimeoutMs, d.wheel, watched);
    }
    const idempotent = IDEMPOTENT.has(method);
    const sel = new Selection(router, d.nodeName, fromMember);
    let attempts = 0;
    // Whether any attempt may have reached an upstream (otherwise nothing was served anywhere).
    let sent = false;

    while (attempts < MAX_ATTEMPTS && sel.next()) {
      if (attempts > 0) {
        // A body whose start was not kept (too large, or stalled) cannot be sent again.
        if (upload !== null && !upload.replayable) {
          upload?.close();
          return this.local(502, errorResponse("bad_gateway", requestId()));
        }
        d.stats.recordRetry();
      }
      attempts++;
      const target = this.stats(sel.name);
      const t0 = performance.now();
      const local = sel.peerName === undefined;
      const r = await attempt(
        sel,
        path,
        req,
        upload ? upload.stream() : body,
        d.cfg.responseTimeoutMs,
        d.wheel,
        local ? this.backendClient : this.peerClient,
        local ? undefined : d.peerTls,
        upload,
      );

      if (r instanceof Response) {
        if (sel.peerName !== undefined && r.status === 503 && r.headers.has(NO_BACKEND_HEADER)) {
          // The peer has nothing healthy after all: nothing was served, pick another node.
          void r.body?.cancel();
          sel.exclude();
          continue;
        }
        upload?.answered();
        prepareResponseHeaders(r.headers, trusted);
        d.stats.recordResponse(target, r.status, (performance.now() - t0) / 1000);
        if (r.body !== null && isLarge(r.headers)) {
          // Bun sends a JS stream chunked whatever Content-Length says: drop it rather than contradict it.
          r.headers.delete("content-length");
          return new Response(watchDownload(r.body, server, req, d.cfg.idleTimeoutMs, d.wheel), { status: r.status, statusText: r.statusText, headers: r.headers });
        }
        return r;
      }

      target.errors.value++;
      switch (r.failure) {
        case "client_gone":
          upload?.close();
          return new Response(null, { status: 499 });
        case "client_stalled":
          upload?.close();
          return this.local(408, errorResponse("client_timeout", requestId()));
        case "timeout":
          upload?.close();
          return this.local(504, errorResponse("timeout", requestId()));
        case "invalid":
          upload?.close();
          return this.local(400, errorResponse("bad_request", requestId(), { detail: r.code }));
        case "connect":
          // The only passive signal about a backend's health: its socket could not be opened.
          if (sel.backendIndex >= 0) d.onConnectFailure(sel.name, r.code);
          break;
        case "unsent":
          break;
        case "broken":
          sent = true;
          if (!idempotent) {
            upload?.close();
            return this.local(502, errorResponse("bad_gateway", requestId(), { detail: r.code }));
          }
          break;
      }
      d.log.debug("upstream attempt failed", { target: sel.name, failure: r.failure, code: r.code });
      sel.exclude();
    }

    upload?.close();
    // Nothing healthy here, or nothing reachable: a forwarding peer may safely try another node.
    if (attempts === 0 || (fromMember && !sent)) {
      return this.local(503, errorResponse("no_backend", requestId(), { retryAfterS: d.retryAfterS, markNoBackend: fromMember }));
    }
    return this.local(502, errorResponse("bad_gateway", requestId()));
  }
}
