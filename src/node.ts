// Wires one node together: config → health checks per pool → routing snapshot → data plane, membership by
// gossip, the admin API. The control plane (this file) rebuilds the snapshot on every event; the
// data plane only reads it. What each part does lives in its module; this file only connects them.

import pkg from "../package.json" with { type: "json" };
import { AdminServer } from "./admin/server.ts";
import { EventHub } from "./admin/events.ts"; // status page
import { type StatusDoc, statusDoc } from "./admin/status.ts";
import { TrafficSampler } from "./admin/traffic.ts"; // status page
import { diffConfig, type ReloadResult, settleReload } from "./config/reload.ts";
import { type Config, DEFAULT_POOL } from "./config/schema.ts";
import { type NodeMeta, poolId } from "./control/nodemeta.ts";
import type { Member, Memberlist } from "./cluster/index.ts";
import { type GossipTransportFactory, Membership } from "./control/membership.ts";
import { PoolHealth } from "./health/pools.ts";
import { USER_MSG } from "./control/usermessages.ts";
import { createLogger, type Logger } from "./log.ts";
import { Registry } from "./metrics/index.ts";
import { registerNodeMetrics } from "./metrics/node.ts";
import type { DataPlane } from "./proxy/dataplane.ts";
import { ProxyStats } from "./proxy/stats.ts";
import { UsageGossip } from "./ratelimit/gossip.ts";
import { registerRateLimitMetrics } from "./ratelimit/metrics.ts";
import { Router } from "./routing/router.ts";
import { buildSnapshot } from "./routing/builder.ts";
import { emptySnapshot } from "./routing/snapshot.ts";
import { type TimingWheel, wheel as defaultWheel } from "./timer/wheel.ts";
import { createDataPlane } from "./workers/dataplane.ts";

export const VERSION: string = pkg.version;

export interface NodeReloadResult extends ReloadResult {
  /** Backends added and removed. */
  added: string[];
  removed: string[];
}

export interface NodeOptions {
  wheel?: TimingWheel;
  logger?: Logger;
  /** Builds the gossip transport for the configured bind address and port (default: the engine's sockets). */
  gossipTransport?: GossipTransportFactory;
}

export class ClusterClubNode {
  readonly health: PoolHealth;
  readonly router: Router;
  /** The request path: in this process (workers = 1) or in worker processes sharing the port. */
  readonly proxy: DataPlane;
  readonly admin: AdminServer;
  readonly stats = new ProxyStats();
  // Status page: traffic sampled once per second; one shared event-stream ticker for all clients.
  readonly traffic = new TrafficSampler(this.stats);
  readonly events: EventHub;
  private readonly membership: Membership;
  /** Rate-limit usage to and from the cluster; absent without cluster-scope [[rate_limits]]. */
  readonly usage: UsageGossip | undefined;
  private readonly registry = new Registry();
  private readonly log: Logger;
  private readonly startedAt = Date.now();
  private readonly warnedMeta = new Map<string, string>();
  private snapshotVersion = 0;
  private serving = false;
  private stopping: Promise<void> | undefined;

  constructor(
    public config: Config,
    opts: NodeOptions = {},
  ) {
    this.log = opts.logger ?? createLogger("node");
    const wheel = opts.wheel ?? defaultWheel;
    this.health = new PoolHealth(config.pools, { wheel, logger: this.log.child("health") });
    this.router = new Router(emptySnapshot(config.cluster.nodeName));
    this.proxy = createDataPlane(config, {
      router: this.router,
      stats: this.stats,
      wheel,
      log: this.log,
      onConnectFailure: (pool, address, code) => this.health.reportConnectFailure(pool, address, code),
      onFailureEvidence: (pool, address, count) => this.health.reportFailure(pool, address, count),
    });
    const port = this.proxy.usage;
    const usage = port && new UsageGossip({
      nodeName: config.cluster.nodeName,
      type: USER_MSG.rateLimit,
      table: port.table,
      limits: port.limits,
      bytesPerS: config.cluster.rateLimitGossipBytes,
      // Ten gossip rounds without a word from a node (heartbeats go out eight times as often) is a silence.
      silentMs: Math.max(1000, 10 * config.cluster.gossipIntervalMs),
      heartbeatMs: Math.max(1000, 10 * config.cluster.gossipIntervalMs) / 8,
      members: () => this.membership.memberCount,
      pull: () => port.takeFresh((e, n) => usage!.local(e, n)),
      sink: port,
    });
    this.usage = usage?.active ? usage : undefined;
    this.membership = new Membership(config.cluster, this.localMeta(), {
      wheel,
      logger: this.log.child("cluster"),
      transport: opts.gossipTransport,
      onMembers: () => this.publish(),
      channels: this.usage ? [this.usage] : [],
    });
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
    registerNodeMetrics(this.registry, {
      health: this.health,
      stats: this.stats,
      proxy: this.proxy,
      gossip: () => this.cluster?.metrics(),
      metaBroadcasts: () => this.membership.metaSent,
    });
    if (port) registerRateLimitMetrics(this.registry, port, this.usage);
    this.health.onChange(() => {
      this.publish();
      this.membership.announce(this.localMeta());
    });
  }

  /** The gossip engine, once started. */
  get cluster(): Memberlist | undefined {
    return this.membership.engine;
  }

  /** What we gossip: healthy backend weight per pool and the proxy port (the configured one until it is bound). */
  private localMeta(): NodeMeta {
    const pools = new Map<number, number>();
    for (const [name, n] of this.health.namedCounts()) pools.set(poolId(name), n);
    return { healthy: this.health.healthyWeight(DEFAULT_POOL), proxyPort: this.proxy.port || this.config.proxy.listenPort, pools };
  }

  /** Builds a fresh routing snapshot from current state and installs it. */
  private publish(): void {
    const snap = buildSnapshot({
      version: ++this.snapshotVersion,
      nodeName: this.config.cluster.nodeName,
      pools: this.health.names().map((name) => {
        const pc = this.config.pools.find((p) => p.name === name);
        return { name, backends: this.health.pool(name), balance: pc?.balance, hashKey: pc?.hashKey };
      }),
      routes: this.config.routes,
      members: this.membership.members(),
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

  /** Binds everything; resolves once the first health checks are in and the proxy serves. */
  async start(): Promise<void> {
    this.publish();
    this.admin.start();
    this.traffic.start();
    await this.health.start();
    await this.proxy.start();
    await this.membership.start(this.localMeta());
    this.publish();
    this.serving = true;
    this.log.info("serving", {
      proxy: `${this.config.proxy.bindAddress}:${this.proxy.port}`,
      workers: this.proxy.workers?.().length ?? 1,
      admin: `${this.config.admin.bindAddress}:${this.admin.port}`,
      pools: this.config.pools.length,
      routes: this.config.routes.length,
      backends: this.health.backends().length,
      healthy: this.health.healthyTotal,
    });
  }

  /**
   * Applies a new configuration without a restart, key by key as the schema's reload rules say;
   * connections in flight are untouched. Keys that need a restart keep their running value.
   */
  async reload(next: Config): Promise<NodeReloadResult> {
    const prev = this.config;
    const diff = diffConfig(prev, next);
    const keyringApplied = diff.keyring.length > 0 && this.membership.setKeys(next.cluster);
    const { config, applied, restartNeeded } = settleReload(prev, next, diff, keyringApplied);
    // Only what is in force, so /status and --check show the truth.
    this.config = config;
    this.proxy.setConfig(config.proxy);
    const { added, removed } = await this.health.update(config.pools);
    this.publish();
    this.membership.announce(this.localMeta());
    this.membership.setPeers(config.cluster.peers, prev.cluster.peers);
    this.log.info("config reloaded", { applied: applied.join(",") || "nothing", added: added.length, removed: removed.length });
    if (restartNeeded.length > 0) this.log.warn("some changed settings take effect only after a restart", { keys: restartNeeded.join(",") });
    return { applied, restartNeeded, added, removed };
  }

  /** SIGUSR1: the access log file is opened again (logrotate moved it), in every proxy process. */
  reopenLogs(): void {
    this.proxy.reopenLogs();
  }

  /** Graceful: leave the cluster, stop accepting, drain in-flight requests, then close. Idempotent. */
  stop(drainMs = this.config.proxy.drainTimeoutMs): Promise<void> {
    this.stopping ??= (async () => {
      this.serving = false;
      this.log.info("stopping", { drain_ms: drainMs, in_flight: this.proxy.inFlight });
      // Leave first: peers see `left` at once and stop sending, then in-flight requests drain.
      await this.membership.stop(drainMs);
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
    return statusDoc({
      node: this.config.cluster.nodeName,
      version: VERSION,
      startedAt: this.startedAt,
      health: this.health,
      proxy: this.proxy,
      router: this.router,
      cluster: this.cluster,
      encrypted: Boolean(this.config.cluster.sharedKey),
    });
  }
}

