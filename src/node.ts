// Wires one node together: config → health checker → routing snapshot → proxy, plus the admin API.
// The control plane (this file) rebuilds the snapshot on every event; the proxy only reads it.

import pkg from "../package.json" with { type: "json" };
import { CallbackGauge, Counter, Registry } from "./admin/metrics.ts";
import { AdminServer } from "./admin/server.ts";
import type { Config } from "./config/schema.ts";
import { formatHostPort } from "./config/hostport.ts";
import { HealthChecker } from "./health/checker.ts";
import { createLogger, type Logger } from "./log.ts";
import { ProxyServer } from "./proxy/server.ts";
import { ProxyStats } from "./proxy/stats.ts";
import { Router } from "./routing/router.ts";
import { emptySnapshot, type RoutingSnapshot } from "./routing/snapshot.ts";
import { type TimingWheel, wheel as defaultWheel } from "./timer/wheel.ts";

export const VERSION: string = pkg.version;

export interface NodeOptions {
  wheel?: TimingWheel;
  logger?: Logger;
}

export class ClusterClubNode {
  readonly health: HealthChecker;
  readonly router: Router;
  readonly proxy: ProxyServer;
  readonly admin: AdminServer;
  readonly stats = new ProxyStats();
  private readonly registry = new Registry();
  private readonly log: Logger;
  private readonly startedAt = Date.now();
  private snapshotVersion = 0;
  private serving = false;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly config: Config,
    opts: NodeOptions = {},
  ) {
    this.log = opts.logger ?? createLogger("node");
    const wheel = opts.wheel ?? defaultWheel;
    this.health = new HealthChecker(config.backends, config.health, { wheel, logger: this.log.child("health") });
    this.router = new Router(emptySnapshot(config.cluster.nodeName));
    this.proxy = new ProxyServer({
      cfg: config.proxy,
      nodeName: config.cluster.nodeName,
      router: this.router,
      stats: this.stats,
      wheel,
      log: this.log.child("proxy"),
      onConnectFailure: (i, code) => this.health.reportConnectFailure(i, code),
      retryAfterS: Math.min(30, Math.max(1, Math.ceil(config.health.intervalMs / 1000))),
    });
    this.admin = new AdminServer(config.admin, {
      status: () => this.status(),
      metrics: () => this.registry.render(),
      ready: () => this.serving,
    });
    this.registerMetrics();
    this.health.onChange(() => this.publish());
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
    this.registry.add(
      new CallbackGauge("clusterclub_open_requests", "Requests open on the proxy listener", () => [{ labels: {}, value: this.proxy.inFlight }]),
    );
  }

  /** Builds a fresh routing snapshot from current state and installs it. */
  private publish(): void {
    const snap: RoutingSnapshot = {
      version: ++this.snapshotVersion,
      nodeName: this.config.cluster.nodeName,
      backends: this.health.backends().map((b, index) => ({
        index,
        address: b.address,
        origin: `http://${formatHostPort(b.host, b.port)}`,
        healthy: b.status === "up",
      })),
      peers: [],
      memberAddresses: [],
      memberNames: [],
    };
    this.router.install(snap);
  }

  /** Binds everything; resolves once the first health checks are in and the proxy serves. */
  async start(): Promise<void> {
    this.publish();
    this.admin.start();
    await this.health.start();
    this.proxy.start();
    this.serving = true;
    this.log.info("serving", {
      proxy: `${this.config.proxy.bindAddress}:${this.proxy.port}`,
      admin: `${this.config.admin.bindAddress}:${this.admin.port}`,
      backends: this.config.backends.length,
      healthy: this.health.healthyCount,
    });
  }

  /** Graceful: stop accepting, drain in-flight requests, then close. Idempotent. */
  stop(drainMs = this.config.proxy.drainTimeoutMs): Promise<void> {
    this.stopping ??= (async () => {
      this.serving = false;
      this.log.info("stopping", { drain_ms: drainMs, in_flight: this.proxy.inFlight });
      this.health.stop();
      await this.proxy.stop(drainMs);
      await this.admin.stop();
      this.log.info("stopped");
    })();
    return this.stopping;
  }

  status(): Record<string, unknown> {
    return {
      node: this.config.cluster.nodeName,
      version: VERSION,
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      healthy_backends: this.health.healthyCount,
      backends: this.health.backends().map((b) => ({
        address: b.address,
        healthy: b.status === "up",
        status: b.status,
        last_check: b.lastCheck === null ? null : new Date(b.lastCheck).toISOString(),
        last_error: b.lastError,
        failures: b.failures,
      })),
      members: [],
    };
  }
}
