// The data plane: Bun.serve in, a route to a pool, two-tier selection within the pool from the current
// routing snapshot, an upstream attempt out (forward.ts), with failover. Steps, in order: admit → route
// → choose (node, then backend) → attempt/retry → answer, around one ProxyContext per request.

import type { Server } from "bun";
import type { ProxyConfig } from "../config/schema.ts";
import type { RoutingSnapshot } from "../routing/snapshot.ts";
import type { DataPlane } from "./dataplane.ts";
import { idleTimeoutSeconds } from "../netutil.ts";
import type { Logger } from "../log.ts";
import type { Router } from "../routing/router.ts";
import { RouteDecision } from "./routed.ts";
import type { TimingWheel } from "../timer/wheel.ts";
import { type ErrorResponseOptions, errorResponse, type ProxyErrorKind, requestId } from "./errors.ts";
import { refusal } from "./admit.ts";
import { ProxyContext } from "./context.ts";
import { Deadlines } from "./deadlines.ts";
import { type AttemptError, AttemptSignal, FetchUpstream, type PeerTls, PooledUpstream, type Upstream } from "./forward.ts";
import { NO_BACKEND_HEADER, prepareRequestHeaders, stripNodeSignals } from "./headers.ts";
import { altSvc, HTTP1, HTTP2, HTTP3, looksLikeH2, type ProtocolIndex, viaTokens } from "./protocol.ts";
import { ClientHead, type ForwardingInfo } from "./request-head.ts";
import { Selection } from "./selection.ts";
import { AccessLog, type AccessLogConfig } from "../accesslog/index.ts";
import { bodySize, logAnswer, logRefusal, logTunnel, ownAnswer } from "./access.ts";
import { requestKey } from "../routing/balance/key.ts";
import { UpstreamClient } from "./upstream/client.ts";
import { RequestBody, WATCH_RESPONSES_FROM, watchDownload } from "./transfer.ts";
import { type TunnelData, type TunnelLog, WebSocketTunnel } from "./websocket.ts";
import type { ProxyStats, TargetStats } from "./stats.ts";
import type { RateLimiter } from "../ratelimit/limiter.ts";
import { denialHeaders } from "../ratelimit/headers.ts";

const MAX_ATTEMPTS = 8;

export interface ProxyDeps {
  cfg: ProxyConfig;
  nodeName: string;
  /** Read on every request; the control plane installs new snapshots into it. */
  router: Router;
  stats: ProxyStats;
  wheel: TimingWheel;
  log: Logger;
  /** Passive health: a local backend of `pool` refused or could not be reached. */
  onConnectFailure(pool: string, backendAddress: string, code: string): void;
  /**
   * Passive outlier evidence: a local backend of `pool` answered 502/503/504, broke the exchange or timed
   * out. Evidence only: a client can provoke each of these, so the health checker confirms it (see passive.ts).
   */
  onFailureEvidence?(pool: string, backendAddress: string, code: string): void;
  /** Seconds for Retry-After on 503. */
  retryAfterS: number;
  /** TLS options for forwarding to peers over https (cluster.tls). */
  peerTls?: PeerTls;
  /** Several processes listen on the same port (workers). */
  reusePort?: boolean;
  /** Connect timeout for forwards to peer nodes: a silent peer must not hold a request for response_timeout. */
  peerConnectTimeoutMs?: number;
  /** [[rate_limits]]: decided here, before a target is chosen. */
  limiter?: RateLimiter;
  /** The access log (each process writes its own lines; see accesslog/writer.ts). */
  accessLog?: AccessLogConfig;
}

/** Connect timeout for local backends (a connect failure also marks the backend down). */
const BACKEND_CONNECT_TIMEOUT_MS = 3000;

/** upstream_client = "fetch": calls in flight per process, under fetch's ~64 idle sockets so its pool never churns. */
const FETCH_MAX_IN_FLIGHT = 60;

/** Request bodies above this size (or of unknown size) are watched (see transfer.ts). */
const WATCH_UPLOADS_FROM = 64 * 1024;

/** A response that may take longer than the idle timeout to drain: unknown or large length. */
function isLarge(cl: string | null): boolean {
  return cl === null || Number(cl) >= WATCH_RESPONSES_FROM;
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
  /** Our Via token per client protocol (index: ProtocolIndex). */
  private readonly vias: readonly string[];
  private readonly proto: string;
  private redirect: Server<undefined> | undefined;
  /** HTTP/3: a QUIC-only Bun.serve on the proxy's port number (UDP), so its requests are known as h3. */
  private quic: Server<TunnelData> | undefined;
  /** Alt-Svc for the TLS listener's answers when HTTP/3 is on. */
  private altSvc: string | null = null;
  /** Local backends and peer nodes: the pooled client for plain HTTP, fetch for https peers or when configured. */
  private readonly backends: Upstream;
  private readonly peers: Upstream;
  /** Peers we may hold pooled connections to: address → proxy port. */
  private readonly peerTargets = new Map<string, number>();
  private readonly targetStats = new Map<string, TargetStats>();
  private readonly deadlines = new Deadlines();
  /** Null when the access log is off: the request path then pays one comparison. */
  private readonly access: AccessLog | null;

  constructor(private readonly d: ProxyDeps) {
    this.vias = viaTokens(d.nodeName);
    const pooled = d.cfg.upstreamClient === "pooled";
    this.backends = pooled ? new PooledUpstream(new UpstreamClient({ connectTimeoutMs: BACKEND_CONNECT_TIMEOUT_MS })) : new FetchUpstream(FETCH_MAX_IN_FLIGHT, undefined);
    this.peers =
      pooled && !d.peerTls
        ? new PooledUpstream(new UpstreamClient({ connectTimeoutMs: d.peerConnectTimeoutMs ?? 1000 }))
        : new FetchUpstream(FETCH_MAX_IN_FLIGHT, d.peerTls);
    this.proto = d.cfg.tls ? "https" : "http";
    this.websockets = new WebSocketTunnel(d.log);
    this.access = AccessLog.open(d.accessLog, (e, errors) => d.log.warn("access log write failed", { error: e, errors }), d.stats.accessLogLost);
  }

  reopenLogs(): void {
    this.access?.reopen();
  }

  get port(): number {
    return this.server?.port ?? 0;
  }

  /** The limiter counts this process's admissions for the node's gossip. */
  get usage(): RateLimiter | undefined {
    return this.d.limiter;
  }

  /** Live settings (timeouts) from a reloaded config; listener settings need a restart. */
  setConfig(cfg: ProxyConfig): void {
    this.d.cfg = cfg;
  }

  get inFlight(): number {
    return (this.server?.pendingRequests ?? 0) + (this.quic?.pendingRequests ?? 0);
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
    const alive = new Set(snapshot.aliveAddresses);
    for (const [host, port] of this.peerTargets) {
      if (!alive.has(host)) {
        this.peers.abandon(host, port);
        this.peerTargets.delete(host);
      }
    }
    for (const p of snapshot.peers) this.peerTargets.set(p.host, p.port);
  }

  async start(): Promise<void> {
    const cfg = this.d.cfg;
    const common = {
      hostname: cfg.bindAddress,
      reusePort: this.d.reusePort ?? false,
      idleTimeout: idleTimeoutSeconds(cfg.idleTimeoutMs),
      // 0 = unlimited: Bun's own default would cut uploads at 128 MiB.
      maxRequestBodySize: cfg.maxBodyBytes > 0 ? cfg.maxBodyBytes : Number.MAX_SAFE_INTEGER,
      development: false,
      tls: cfg.tls?.certs.map((c) => ({ cert: Bun.file(c.certPath), key: Bun.file(c.keyPath), serverName: c.serverName })),
      websocket: this.websockets.handler,
      error: (err: Error) => {
        const id = requestId();
        this.d.log.error("proxy handler failed", { id, error: err });
        return errorResponse("bad_gateway", id);
      },
    };
    // HTTP/2 rides on the same TCP listener: ALPN h2 with TLS, the h2 preface without.
    this.server = Bun.serve({ ...common, port: cfg.listenPort, http2: cfg.http2, fetch: (req, server) => this.handle(req, server) });
    if (cfg.tls?.http3) {
      const port = this.server.port ?? 0;
      this.quic = Bun.serve({ ...common, port, http1: false, http3: true, fetch: (req, server) => this.handle(req, server, true) });
      this.altSvc = altSvc(port);
    }
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
    // Bun answers stop(false) with GOAWAY on each HTTP/2 connection; streams in flight finish.
    const graceful = Promise.all([s.stop(false), this.quic?.stop(false)]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, drainMs);
    });
    await Promise.race([graceful, deadline]);
    clearTimeout(timer);
    await Promise.all([s.stop(true), this.quic?.stop(true)]);
    this.backends.close();
    this.peers.close();
    await this.access?.close();
  }

  private stats(pool: string, name: string): TargetStats {
    const key = pool + " " + name;
    let t = this.targetStats.get(key);
    if (!t) {
      t = this.d.stats.target(pool, name);
      this.targetStats.set(key, t);
    }
    return t;
  }

  /** A local answer before any attempt (refused, not routed, rate limited), access-logged like an answered one. */
  private refuse(req: Request, info: ForwardingInfo, path: string, start: number, res: Response): Response {
    if (this.access !== null) logRefusal(this.access, req, info, path, res, start);
    return res;
  }

  /** The node's own answer for an error kind; the kind carries the status. */
  private local(kind: ProxyErrorKind, opts?: ErrorResponseOptions): Response {
    const res = errorResponse(kind, requestId(), opts);
    this.d.stats.recordLocal(res.status);
    if (this.altSvc !== null) res.headers.set("alt-svc", this.altSvc);
    return res;
  }

  /** Admit: refuse what must not be forwarded, decide trust, route to a pool, then forward (or tunnel a WebSocket). */
  handle(req: Request, server: Server<TunnelData>, overQuic = false): Response | Promise<Response | undefined> {
    const d = this.d;
    const method = req.method;
    const start = this.access === null ? 0 : performance.now();
    const head = ClientHead.scan(req.headers);
    const protocol: ProtocolIndex = overQuic ? HTTP3 : d.cfg.http2 && looksLikeH2(req.headers) ? HTTP2 : HTTP1;
    const router = d.router;
    const clientIp = server.requestIP(req)?.address ?? "unknown";
    // A member's request took its one hop already: serve it here, never forward it again.
    const fromMember = router.isFromMember(clientIp, head.via);
    // Only a member's own address vouches for its X-Forwarded-* and internal headers: a Via naming a
    // member can be forged by any client and must cost it balancing, nothing more.
    const info: ForwardingInfo = { clientIp, proto: this.proto, via: this.vias[protocol]!, protocol, trusted: fromMember && router.isMemberAddress(clientIp) };
    const path = pathOf(req.url);
    const refused = refusal(method, head, d.cfg.maxBodyBytes);
    if (refused) return this.refuse(req, info, path, start, this.local(refused.kind, { detail: refused.reason }));
    let routed: RouteDecision;
    if (info.trusted && head.pool !== null) {
      // The entry node routed it: serve that pool, whatever our own routes say.
      routed = RouteDecision.fromSignal(head.pool, path);
    } else {
      const route = router.match(head.host, path);
      if (route === undefined) return this.refuse(req, info, path, start, this.local("not_routed"));
      routed = new RouteDecision(route.pool, path, route.stripPrefix ? route.prefix : "");
      // A member's forward was counted at its entry node; a forged Via is no member's and is counted.
      if (d.limiter !== undefined && !info.trusted) {
        const denied = d.limiter.check({ headers: req.headers, clientIp, route, pool: route.pool });
        if (denied) return this.refuse(req, info, path, start, this.local("rate_limited", { retryAfterS: denied.retryAfterS, headers: denialHeaders(denied) }));
      }
    }
    const pool = router.pool(routed.pool);
    const hashKey = pool?.hashKey ?? null;
    const key = hashKey === null ? undefined : requestKey(hashKey, { clientIp, trusted: info.trusted, xff: head.xff, headers: req.headers });
    const sel = new Selection(pool, d.nodeName, fromMember, key);
    // WebSockets are HTTP/1.1 only (Bun has no RFC 8441 over h2): a browser opens them on a 1.1 connection.
    if (method === "GET" && !overQuic && head.upgrade !== null && head.upgrade.toLowerCase() === "websocket") {
      // The client's handshake fields must stay on `req` for Bun's upgrade; the upstream gets a prepared copy.
      const upstreamHeaders = new Headers(req.headers);
      prepareRequestHeaders(upstreamHeaders, info);
      return this.websockets.upgrade(req, server, {
        headers: upstreamHeaders,
        sel,
        routed,
        timeoutMs: d.cfg.responseTimeoutMs,
        peerTls: d.peerTls,
        onConnectFailure: d.onConnectFailure,
        log: this.access === null ? null : this.tunnelLog(this.access, req, info, routed, sel, start),
      });
    }
    const body = method === "GET" || method === "HEAD" ? null : req.body;
    // A body can be replayed to another target after a connect failure; one that may take long
    // (unknown or large size) is also watched, so a steady upload outlives the connection idle timer
    // while a stalled one is still cut.
    let upload: RequestBody | null = null;
    if (body !== null) {
      const cl = head.contentLength;
      const watched = cl === null || Number(cl) > WATCH_UPLOADS_FROM;
      upload = new RequestBody(body, server, req, d.cfg.idleTimeoutMs, d.wheel, watched);
    }
    const signal = new AttemptSignal(req.signal);
    const ctx = new ProxyContext(req, server, routed, fromMember, sel, signal, upload, head, info);
    ctx.start = start;
    return this.forward(ctx);
  }

  /**
   * Choose → attempt → retry while it is safe → answer. Most requests end with their first attempt, so
   * that one runs without an async frame; only a failed or refused first attempt enters the retry loop.
   */
  private forward(ctx: ProxyContext): Response | Promise<Response> {
    const sent = this.attempt(ctx);
    if (sent === null) return this.exhausted(ctx);
    return sent.then(
      (r) => this.onResponse(ctx, r) ?? this.retry(ctx),
      (e: unknown) => this.onError(ctx, e) ?? this.retry(ctx),
    );
  }

  private async retry(ctx: ProxyContext): Promise<Response> {
    for (;;) {
      const sent = this.attempt(ctx);
      if (sent === null) return this.exhausted(ctx);
      let answer: Response | null;
      try {
        answer = this.onResponse(ctx, await sent);
      } catch (e) {
        answer = this.onError(ctx, e);
      }
      if (answer !== null) return answer;
    }
  }

  /** Picks the next target and sends the request there; null when nothing is left to try. */
  private attempt(ctx: ProxyContext): Promise<Response> | null {
    const sel = ctx.sel;
    if (ctx.attempts >= MAX_ATTEMPTS || !sel.next()) return null;
    if (!ctx.nextBody()) {
      ctx.bodyLost = true;
      return null;
    }
    if (ctx.attempts > 0) this.d.stats.recordRetry();
    ctx.attempts++;
    ctx.targetStats = this.stats(ctx.routed.pool, sel.name);
    const t0 = performance.now();
    ctx.t0 = t0;
    ctx.signal.begin(this.deadlines.list(this.d.cfg.responseTimeoutMs), t0, ctx.upload);
    sel.begin();
    return (ctx.local ? this.backends : this.peers).send(ctx);
  }

  /** An upstream answered: the answer for the client, or null to try another node. */
  private onResponse(ctx: ProxyContext, r: Response): Response | null {
    ctx.signal.end();
    const now = performance.now();
    // The latency sample is time to first byte; the attempt stays in flight until answer() says the body ended.
    ctx.sel.observe(now - ctx.t0, now);
    if (!ctx.local && r.status === 503 && r.headers.has(NO_BACKEND_HEADER)) {
      // The peer has nothing healthy after all: nothing was served, pick another node.
      ctx.sel.release();
      void r.body?.cancel();
      ctx.peersWithNone++;
      ctx.sel.exclude();
      return null;
    }
    const status = r.status;
    if (status >= 502 && status <= 504 && ctx.sel.backendIndex >= 0) this.d.onFailureEvidence?.(ctx.routed.pool, ctx.sel.name, `status_${status}`);
    this.d.stats.recordResponse(ctx.targetStats!, status, (now - ctx.t0) / 1000, ctx.protocol);
    return this.answer(ctx, r, now);
  }

  /** An attempt failed: the answer for the client, or null to try the next target. */
  private onError(ctx: ProxyContext, e: unknown): Response | null {
    const failure = ctx.signal.classify(e);
    ctx.signal.end();
    const now = performance.now();
    ctx.sel.settle(now - ctx.t0, now);
    ctx.targetStats!.errors.value++;
    const answer = this.afterFailure(ctx, failure);
    if (answer === null) ctx.sel.exclude();
    return answer;
  }

  /** Nothing left to try. */
  private exhausted(ctx: ProxyContext): Response {
    if (ctx.bodyLost) return this.giveUp(ctx, "bad_gateway");
    // Nothing healthy here or at the peers tried (their gossip was behind), or nothing reachable for a
    // forwarding peer, which may then safely try another node.
    if (ctx.attempts === ctx.peersWithNone || (ctx.fromMember && !ctx.sent)) {
      return this.giveUp(ctx, "no_backend", { retryAfterS: this.d.retryAfterS, markNoBackend: ctx.fromMember });
    }
    return this.giveUp(ctx, "bad_gateway");
  }

  /** A failed attempt: the answer to give now, or null to try the next target. */
  private afterFailure(ctx: ProxyContext, f: AttemptError): Response | null {
    switch (f.failure) {
      case "client_gone":
        return this.giveUp(ctx, "client_closed");
      case "client_stalled":
        return this.giveUp(ctx, "client_timeout");
      case "timeout":
        if (ctx.sel.backendIndex >= 0) this.d.onFailureEvidence?.(ctx.routed.pool, ctx.sel.name, "timeout");
        return this.giveUp(ctx, "timeout");
      case "invalid":
        return this.giveUp(ctx, "bad_request", { detail: f.code });
      case "connect":
        // The only passive signal about a backend's health: its socket could not be opened.
        if (ctx.sel.backendIndex >= 0) this.d.onConnectFailure(ctx.routed.pool, ctx.sel.name, f.code);
        break;
      case "unsent":
        break;
      case "broken":
        ctx.sent = true;
        if (ctx.sel.backendIndex >= 0) this.d.onFailureEvidence?.(ctx.routed.pool, ctx.sel.name, f.code);
        if (!ctx.idempotent) return this.giveUp(ctx, "bad_gateway", { detail: f.code });
        break;
    }
    this.d.log.debug("upstream attempt failed", { target: ctx.sel.name, failure: f.failure, code: f.code });
    return null;
  }

  /** The upstream's answer goes to the client; `now`: when it came (performance.now()). */
  private answer(ctx: ProxyContext, r: Response, now: number): Response {
    ctx.upload?.answered();
    // Upstreams answer with end-to-end fields only; what a peer node signalled was for this node alone.
    const headers = r.headers;
    stripNodeSignals(headers);
    if (this.altSvc !== null) headers.set("alt-svc", this.altSvc);
    const cl = headers.get("content-length");
    if (r.body !== null && isLarge(cl)) return this.streamed(ctx, r, r.body);
    // A small body (known length under WATCH_RESPONSES_FROM) goes back to Bun untouched: this is the
    // throughput-critical path, and seeing its end would take a JS stream and a promise per chunk. It
    // drains in about one socket write, so its exchange ends here: out of flight, and its line written
    // with Content-Length as bytes_out and the duration to the response handed over.
    ctx.sel.release();
    if (this.access !== null) logAnswer(this.access, ctx, r.status, this.d.nodeName, bodySize(cl), null, now);
    return r;
  }

  /**
   * A large or unknown-length body, watched (transfer.ts). It keeps its backend busy and its exchange open
   * until it ends, however it ends. (Its own method: a closure in answer() would cost every answer a scope.)
   */
  private streamed(ctx: ProxyContext, r: Response, source: ReadableStream<Uint8Array>): Response {
    // Bun sends a JS stream chunked whatever Content-Length says: drop it rather than contradict it.
    r.headers.delete("content-length");
    const access = this.access;
    const status = r.status;
    const ended = (sent: number) => {
      ctx.sel.release();
      if (access !== null) logAnswer(access, ctx, status, this.d.nodeName, sent, null, performance.now());
    };
    const body = watchDownload(source, ctx.server, ctx.req, this.d.cfg.idleTimeoutMs, this.d.wheel, ended);
    return new Response(body, { status, statusText: r.statusText, headers: r.headers });
  }

  /** The access log's lines for one WebSocket upgrade request: its tunnel at close, or its answer. */
  private tunnelLog(access: AccessLog, req: Request, info: ForwardingInfo, routed: RouteDecision, sel: Selection, start: number): TunnelLog {
    const node = this.d.nodeName;
    return {
      refused: (res, attempts) => logTunnel(access, req, info, routed, sel, node, start, { ...ownAnswer(res), attempts, bytesIn: 0 }),
      closed: (attempts, bytesIn, bytesOut) => logTunnel(access, req, info, routed, sel, node, start, { status: 101, attempts, bytesIn, bytesOut, id: null }),
    };
  }

  /** No upstream answer: stop the body and answer locally. */
  private giveUp(ctx: ProxyContext, kind: ProxyErrorKind, opts?: ErrorResponseOptions): Response {
    ctx.upload?.close();
    const res = this.local(kind, opts);
    if (this.access !== null) {
      const own = ownAnswer(res);
      logAnswer(this.access, ctx, own.status, this.d.nodeName, own.bytesOut, own.id, performance.now());
    }
    return res;
  }
}
