// Wires one node together: config → health checker → routing snapshot → proxy, plus the admin API.
// The control plane (this file) rebuilds the snapshot on every event; the proxy only reads it.

import { readFileSync } from "node:fs";
import pkg from "../package.json" with { type: "json" };
import { AdminServer } from "./admin/server.ts";
import { EventHub } from "./admin/events.ts"; // status page
import type { MemberStatus, StatusDoc } from "./admin/status.ts";
import { TrafficSampler } from "./admin/traffic.ts"; // status page
import type { Config } from "./config/schema.ts";
import { type Member, Memberlist, type NetTransportOptions, type Transport } from "./cluster/index.ts";
import { MetaPublisher } from "./control/metapublisher.ts";
import { decodeNodeMeta, encodeNodeMeta } from "./control/nodemeta.ts";
import { HealthChecker } from "./health/checker.ts";
import { availableParallelism } from "node:os";
import { createLogger, currentLogging, type Logger } from "./log.ts";
import { CallbackGauge, Counter, Registry } from "./metrics/index.ts";
import { GossipSeries } from "./metrics/gossip.ts";
import type { DataPlane } from "./proxy/dataplane.ts";
import { ProxyServer } from "./proxy/server.ts";
import { WorkerPool } from "./workers/pool.ts";
import { ProxyStats } from "./proxy/stats.ts";
import { Router } from "./routing/router.ts";
import { buildSnapshot } from "./routing/builder.ts";
import { emptySnapshot } from "./routing/snapshot.ts";
import { type TimingWheel, wheel as defaultWheel } from "./timer/wheel.ts";

export const VERSION: string = pkg.version;

export interface ReloadResult {
  /** Config keys whose new values are in force. */
  applied: string[];
  /** Config keys that changed but need a restart (the old value stays in force). */
  restartNeeded: string[];
  added: string[];
  removed: string[];
}

const LIVE_KEYS = ["cluster.peers", "proxy.responseTimeoutMs", "proxy.drainTimeoutMs", "health", "backends"];
/** Applied live when gossip was encrypted from the start (key rotation); otherwise need a restart. */
const KEY_KEYS = ["cluster.sharedKey", "cluster.extraKeys"];
const RESTART_KEYS = [
  "cluster.nodeName",
  "cluster.listenPort",
  "cluster.bindAddress",
  "cluster.advertiseAddress",
  "cluster.probeIntervalMs",
  "cluster.probeTimeoutMs",
  "cluster.gossipIntervalMs",
  "cluster.suspicionMult",
  "cluster.pushPullIntervalMs",
  "proxy.listenPort",
  "proxy.bindAddress",
  "proxy.idleTimeoutMs",
  "proxy.maxBodyBytes",
  "proxy.workers",
  "proxy.upstreamClient",
  "proxy.tls",
  "admin",
];

function pick(cfg: Config, path: string): unknown {
  let v: unknown = cfg;
  for (const k of path.split(".")) v = (v as Record<string, unknown>)[k];
  return v;
}

function changedKeys(a: Config, b: Config, keys: string[]): string[] {
  return keys.filter((k) => JSON.stringify(pick(a, k)) !== JSON.stringify(pick(b, k)));
}

/** `proxy.workers`: 0 means one per core. */
export function resolveWorkers(configured: number): number {
  return configured > 0 ? configured : Math.max(1, availableParallelism());
}

export interface NodeOptions {
  wheel?: TimingWheel;
  logger?: Logger;
  /** Builds the gossip transport for the configured bind address and port (default: the engine's sockets). */
  gossipTransport?: (bind: NetTransportOptions) => Promise<Transport>;
}

export class ClusterClubNode {
  readonly health: HealthChecker;
  readonly router: Router;
  /** The request path: in this process (workers = 1) or in worker processes sharing the port. */
  readonly proxy: DataPlane;
  readonly admin: AdminServer;
  readonly stats = new ProxyStats();
  // Status page: traffic sampled once per second; one shared event-stream ticker for all clients.
  readonly traffic = new TrafficSampler(this.stats);
  readonly events: EventHub;
  private readonly registry = new Registry();
  private readonly log: Logger;
  private readonly startedAt = Date.now();
  private readonly wheel: TimingWheel;
  private readonly gossipTransport: NodeOptions["gossipTransport"];
  private readonly meta: MetaPublisher;
  private readonly warnedMeta = new Map<string, string>();
  cluster: Memberlist | undefined;
  private snapshotVersion = 0;
  private serving = false;
  private stopping: Promise<void> | undefined;

  constructor(
    public config: Config,
    opts: NodeOptions = {},
  ) {
    this.log = opts.logger ?? createLogger("node");
    const wheel = opts.wheel ?? defaultWheel;
    this.wheel = wheel;
    this.gossipTransport = opts.gossipTransport;
    this.meta = new MetaPublisher({ healthy: 0, proxyPort: config.proxy.listenPort }, wheel);
    this.health = new HealthChecker(config.backends, config.health, { wheel, logger: this.log.child("health") });
    this.router = new Router(emptySnapshot(config.cluster.nodeName));
    const retryAfterS = Math.min(30, Math.max(1, Math.ceil(config.health.intervalMs / 1000)));
    const peerTls = config.cluster.tls ? { ca: config.cluster.tlsCa ? readFileSync(config.cluster.tlsCa, "utf8") : undefined } : undefined;
    const onConnectFailure = (address: string, code: string) => this.health.reportConnectFailure(address, code);
    const workers = resolveWorkers(config.proxy.workers);
    // A silent peer is given about two probe timeouts to accept, then the next node is tried.
    const peerConnectTimeoutMs = Math.max(200, 2 * config.cluster.probeTimeoutMs);
    if (workers > 1) {
      this.proxy = new WorkerPool({
        count: workers,
        init: { cfg: config.proxy, nodeName: config.cluster.nodeName, retryAfterS, peerTls, peerConnectTimeoutMs, log: currentLogging() },
        stats: this.stats,
        log: this.log.child("workers"),
        onPassiveFailure: onConnectFailure,
      });
    } else {
      this.proxy = new ProxyServer({
        cfg: config.proxy,
        nodeName: config.cluster.nodeName,
        router: this.router,
        stats: this.stats,
        wheel,
        log: this.log.child("proxy"),
        onConnectFailure,
        retryAfterS,
        peerTls,
        peerConnectTimeoutMs,
      });
    }
    this.stats.readInFlight = () => this.proxy.inFlight;
    this.events = new EventHub({
      snapshot: () => ({ t: Date.now(), ...this.status(), traffic: this.traffic.snapshot() }),
      logger: this.log.child("events"),
    });
    this.admin = new AdminServer(config.admin, {
      status: () => this.status(),
      metrics: () => this.registry.render(),
      ready: () => this.serving,
      events: this.events,
    });
    this.registerMetrics();
    this.health.onChange((c) => {
      this.publish();
      this.meta.update({ healthy: c.healthyCount, proxyPort: this.proxy.port || this.config.proxy.listenPort });
    });
  }

  private registerMetrics(): void {
    const transitions = new Counter("clusterclub_health_transitions_total", "Backend health transitions by backend and new state");
    this.health.onChange((c) => transitions.inc({ backend: c.backend.address, to: c.to }));
    this.stats.register(this.registry);
    this.registry.add(transitions);
    this.registry.add(
      new CallbackGauge("clusterclub_backend_healthy", "1 when the backend is healthy", () =>
        this.health.backends().map((b) => ({ labels: { backend: b.address }, value: b.status === "up" ? 1 : 0 })),
      ),
    );
    this.registry.add(
      new CallbackGauge("clusterclub_healthy_backends", "Healthy local backends", () => [{ labels: {}, value: this.health.healthyCount }]),
    );
    this.registry.add(new GossipSeries(() => this.cluster?.metrics(), () => this.meta.sent));
    this.registry.add(
      new CallbackGauge("clusterclub_websockets_open", "Open WebSocket tunnels", () => [{ labels: {}, value: this.proxy.websocketsActive }]),
    );
  }

  /** Builds a fresh routing snapshot from current state and installs it. */
  private publish(): void {
    const snap = buildSnapshot({
      version: ++this.snapshotVersion,
      nodeName: this.config.cluster.nodeName,
      backends: this.health.backends(),
      members: this.cluster?.members() ?? [],
      onInvalidMeta: (m, reason) => this.warnInvalidMeta(m, reason),
      peerScheme: this.config.cluster.tls ? "https" : "http",
    });
    this.router.install(snap);
    this.proxy.publish(snap);
  }

  /** Once per member and reason: a peer with unusable metadata gets no traffic, and the operator hears of it. */
  private warnInvalidMeta(m: Member, reason: string): void {
    if (this.warnedMeta.get(m.name) === reason) return;
    this.warnedMeta.set(m.name, reason);
    this.log.warn("peer metadata unusable; treating it as 0 backends", { member: m.name, address: m.address, reason });
  }

  private async startCluster(): Promise<void> {
    const c = this.config.cluster;
    if (!c.sharedKey) this.log.warn("cluster.shared_key is not set: gossip is neither encrypted nor authenticated");
    this.meta.update({ healthy: this.health.healthyCount, proxyPort: this.proxy.port });
    const logger = this.log.child("cluster");
    const onMember = () => this.publish();
    this.cluster = await Memberlist.create({
      name: c.nodeName,
      bindAddress: c.bindAddress,
      bindPort: c.listenPort,
      transport: this.gossipTransport ? await this.gossipTransport({ bindAddress: c.bindAddress, bindPort: c.listenPort, logger: logger.child("transport") }) : undefined,
      advertiseAddress: c.advertiseAddress,
      secrets: c.sharedKey ? { primary: c.sharedKey, extra: c.extraKeys } : undefined,
      peers: c.peers,
      // Our metadata means "this many healthy backends, proxy on this port"; the engine only carries it.
      delegate: { nodeMeta: () => encodeNodeMeta(this.meta.announce()) },
      events: { notifyJoin: onMember, notifyLeave: onMember, notifyUpdate: onMember },
      probeIntervalMs: c.probeIntervalMs,
      probeTimeoutMs: c.probeTimeoutMs,
      gossipIntervalMs: c.gossipIntervalMs,
      suspicionMult: c.suspicionMult,
      pushPullIntervalMs: c.pushPullIntervalMs,
      logger,
      wheel: this.wheel,
    });
    this.meta.attach(this.cluster);
    this.publish();
  }

  /** Binds everything; resolves once the first health checks are in and the proxy serves. */
  async start(): Promise<void> {
    this.publish();
    this.admin.start();
    this.traffic.start();
    await this.health.start();
    await this.proxy.start();
    await this.startCluster();
    this.serving = true;
    this.log.info("serving", {
      proxy: `${this.config.proxy.bindAddress}:${this.proxy.port}`,
      workers: this.proxy instanceof WorkerPool ? this.proxy.size : 1,
      admin: `${this.config.admin.bindAddress}:${this.admin.port}`,
      backends: this.config.backends.length,
      healthy: this.health.healthyCount,
    });
  }

  /**
   * Applies a new configuration without a restart: backends added/removed, health settings, proxy
   * timeouts and new peers take effect; connections in flight are untouched. Settings bound to open
   * sockets (ports, addresses, keys, node name, gossip timings) are reported as needing a restart.
   */
  async reload(next: Config): Promise<ReloadResult> {
    const prev = this.config;
    const restartNeeded = changedKeys(prev, next, RESTART_KEYS);
    const applied = changedKeys(prev, next, LIVE_KEYS);
    const keyChanges = changedKeys(prev, next, KEY_KEYS);
    let keys = { sharedKey: prev.cluster.sharedKey, extraKeys: prev.cluster.extraKeys };
    if (keyChanges.length > 0) {
      if (this.cluster && next.cluster.sharedKey && this.cluster.setKeys(next.cluster.sharedKey, next.cluster.extraKeys)) {
        keys = { sharedKey: next.cluster.sharedKey, extraKeys: next.cluster.extraKeys };
        applied.push(...keyChanges);
      } else {
        restartNeeded.push(...keyChanges);
      }
    }
    // Keep what cannot change live, so /status and --check show what is really in force.
    const effective: Config = {
      cluster: { ...prev.cluster, ...keys, peers: next.cluster.peers },
      proxy: { ...prev.proxy, responseTimeoutMs: next.proxy.responseTimeoutMs, drainTimeoutMs: next.proxy.drainTimeoutMs },
      health: next.health,
      admin: prev.admin,
      backends: next.backends,
    };
    this.config = effective;
    this.proxy.setConfig(effective.proxy);
    const { added, removed } = await this.health.update(next.backends, next.health);
    this.publish();
    this.meta.update({ healthy: this.health.healthyCount, proxyPort: this.proxy.port });
    const newPeers = next.cluster.peers.filter((p) => !prev.cluster.peers.includes(p));
    if (this.cluster) {
      this.cluster.setPeers(next.cluster.peers);
      if (newPeers.length > 0) this.cluster.join(newPeers).catch((e) => this.log.warn("could not join new peers yet", { peers: newPeers, error: e }));
    }
    const result = { applied, restartNeeded, added, removed };
    this.log.info("config reloaded", { applied: applied.join(",") || "nothing", added: added.length, removed: removed.length });
    if (restartNeeded.length > 0) this.log.warn("some changed settings take effect only after a restart", { keys: restartNeeded.join(",") });
    return result;
  }

  /** Graceful: stop accepting, drain in-flight requests, then close. Idempotent. */
  stop(drainMs = this.config.proxy.drainTimeoutMs): Promise<void> {
    this.stopping ??= (async () => {
      this.serving = false;
      this.log.info("stopping", { drain_ms: drainMs, in_flight: this.proxy.inFlight });
      // Leave first: peers see `left` at once and stop sending, then in-flight requests drain.
      if (this.cluster) {
        await this.cluster.leave(Math.min(5000, Math.max(500, drainMs))).catch(() => {});
        await this.cluster.shutdown().catch(() => {});
      }
      this.meta.stop();
      this.health.stop();
      await this.proxy.stop(drainMs);
      this.events.close();
      this.traffic.stop();
      await this.admin.stop();
      this.log.info("stopped");
    })();
    return this.stopping;
  }

  status(): StatusDoc {
    return {
      node: this.config.cluster.nodeName,
      version: VERSION,
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      healthy_backends: this.health.healthyCount,
      workers: this.proxy instanceof WorkerPool ? this.proxy.describe() : null,
      backends: this.health.backends().map((b) => ({
        address: b.address,
        healthy: b.status === "up",
        status: b.status,
        last_check: b.lastCheck === null ? null : new Date(b.lastCheck).toISOString(),
        last_error: b.lastError,
        failures: b.failures,
      })),
      cluster: this.cluster
        ? { address: this.cluster.address, port: this.cluster.port, health_score: this.cluster.healthScore(), encrypted: Boolean(this.config.cluster.sharedKey) }
        : null,
      members: this.membersStatus(),
    };
  }

  /** Members with their published healthy count and the routing weight this node gives them. */
  membersStatus(): MemberStatus[] {
    if (!this.cluster) return [];
    const snap = this.router.snapshot;
    const weights = new Map(snap.peers.map((p) => [p.name, p.weight]));
    return this.cluster.members().map((m) => {
      const self = m.name === this.config.cluster.nodeName;
      const meta = decodeNodeMeta(m.meta);
      return {
        name: m.name,
        address: m.address,
        port: m.port,
        state: m.state,
        incarnation: m.incarnation,
        self,
        meta: meta.ok ? { healthy: meta.meta.healthy, proxy_port: meta.meta.proxyPort } : { invalid: meta.reason },
        weight: self ? this.router.healthyCount : (weights.get(m.name) ?? 0),
      };
    });
  }
}
