// The primary's side of the workers: N proxy processes on one port (SO_REUSEPORT), each sent every
// routing snapshot; their passive health reports feed the primary's checker and their counters are
// summed into the primary's metrics. A worker that dies is restarted (with backoff).

import type { Subprocess } from "bun";
import type { WorkerStatus } from "../admin/status.ts";
import type { ProxyConfig } from "../config/schema.ts";
import { compiled } from "../executable.ts";
import type { Logger } from "../log.ts";
import type { DataPlane } from "../proxy/dataplane.ts";
import type { StatsDump } from "../proxy/stats.ts";
import type { ProxyStats } from "../proxy/stats.ts";
import type { RoutingSnapshot } from "../routing/snapshot.ts";
import type { FromWorker, ToWorker, WorkerInit } from "./protocol.ts";
import { USAGE_EVERY_MS, UsageRelay } from "./usage.ts";

/** The argument with which a compiled executable runs as a proxy worker (dispatched in src/main.ts). */
export const PROXY_WORKER_ARG = "__proxy-worker";
// From the sources the worker is its own entry file; a compiled executable has no files to run, so it
// starts itself. process.execPath, not "bun" on PATH: a service manager's PATH may not have bun.
const WORKER_COMMAND = compiled ? [process.execPath, PROXY_WORKER_ARG] : [process.execPath, new URL("./worker.ts", import.meta.url).pathname];
const READY_TIMEOUT_MS = 15_000;

interface Slot {
  id: number;
  proc: Subprocess | null;
  /** Last counters reported by the current process of this slot. */
  last: StatsDump | undefined;
  websockets: number;
  inFlight: number;
  restarts: number;
  ready: PromiseWithResolvers<void> | null;
}

export interface WorkerPoolOptions {
  count: number;
  init: Omit<WorkerInit, "id" | "snapshot">;
  stats: ProxyStats;
  log: Logger;
  onPassiveFailure(pool: string, address: string, code: string): void;
  onFailureEvidence(pool: string, address: string, count: number): void;
}

export class WorkerPool implements DataPlane {
  private readonly slots: Slot[];
  private snapshot: RoutingSnapshot | undefined;
  private cfg: ProxyConfig;
  private stopping = false;
  private boundPort = 0;
  private boundRedirect = 0;
  /** Rate-limit usage between the workers and this node's gossip; absent without [[rate_limits]]. */
  readonly usage: UsageRelay | undefined;
  private usageTimer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly o: WorkerPoolOptions) {
    this.cfg = o.init.cfg;
    this.slots = Array.from({ length: o.count }, (_, id) => ({ id, proc: null, last: undefined, websockets: 0, inFlight: 0, restarts: 0, ready: null }));
    if (o.init.rateLimits.length > 0) this.usage = new UsageRelay(o.init.rateLimits, this.cfg.rateLimitsMaxKeys, o.count);
  }

  get port(): number {
    return this.boundPort;
  }

  get redirectPort(): number {
    return this.boundRedirect;
  }

  get inFlight(): number {
    return this.slots.reduce((a, s) => a + s.inFlight, 0);
  }

  get websocketsActive(): number {
    return this.slots.reduce((a, s) => a + s.websockets, 0);
  }

  /** Each worker's pid (null while restarting), restarts and requests in flight. */
  workers(): WorkerStatus[] {
    return this.slots.map((s) => ({ id: s.id, pid: s.proc?.pid ?? null, restarts: s.restarts, in_flight: s.inFlight }));
  }

  async start(): Promise<void> {
    if (!this.snapshot) throw new Error("WorkerPool.start before the first snapshot");
    // Every worker must bind the same port: resolve "any port" once, here.
    if (this.cfg.listenPort === 0) this.cfg = { ...this.cfg, listenPort: freePort(this.cfg.bindAddress) };
    await Promise.all(this.slots.map((s) => this.spawn(s)));
    const relay = this.usage;
    if (relay) {
      this.usageTimer = setInterval(() => {
        for (const s of this.slots) {
          const u = relay.take(s.id);
          if (u.length > 0) this.sendTo(s, { t: "usage", u });
        }
      }, USAGE_EVERY_MS);
    }
  }

  publish(snapshot: RoutingSnapshot): void {
    this.snapshot = snapshot;
    this.broadcast({ t: "snapshot", snapshot });
  }

  setConfig(cfg: ProxyConfig): void {
    // Listener settings stay as bound; only live settings travel.
    this.cfg = { ...this.cfg, responseTimeoutMs: cfg.responseTimeoutMs, drainTimeoutMs: cfg.drainTimeoutMs };
    this.broadcast({ t: "config", cfg: this.cfg });
  }

  reopenLogs(): void {
    this.broadcast({ t: "reopen" });
  }

  async stop(drainMs: number): Promise<void> {
    this.stopping = true;
    clearInterval(this.usageTimer);
    const exits = this.slots.map(async (s) => {
      const p = s.proc;
      if (!p) return;
      try {
        p.send({ t: "stop", drainMs } satisfies ToWorker);
      } catch {
        p.kill("SIGKILL");
      }
      const killer = setTimeout(() => p.kill("SIGKILL"), drainMs + 2000);
      await p.exited;
      clearTimeout(killer);
    });
    await Promise.all(exits);
  }

  private broadcast(msg: ToWorker): void {
    for (const s of this.slots) this.sendTo(s, msg);
  }

  private sendTo(s: Slot, msg: ToWorker): void {
    try {
      s.proc?.send(msg);
    } catch {
      // A worker that is exiting; it gets everything again when restarted.
    }
  }

  private spawn(s: Slot): Promise<void> {
    s.ready = Promise.withResolvers<void>();
    s.last = undefined;
    const proc = Bun.spawn(WORKER_COMMAND, {
      stdin: "ignore",
      stdout: "inherit",
      stderr: "inherit",
      ipc: (msg: FromWorker) => this.onMessage(s, msg),
      serialization: "json",
    });
    s.proc = proc;
    proc.send({ t: "init", init: { ...this.o.init, cfg: this.cfg, id: s.id, snapshot: this.snapshot! } } satisfies ToWorker);
    void proc.exited.then((code) => this.onExit(s, proc, code));
    const timer = setTimeout(() => s.ready?.reject(new Error(`worker ${s.id} did not start within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    return s.ready.promise.finally(() => clearTimeout(timer));
  }

  private onMessage(s: Slot, msg: FromWorker): void {
    switch (msg.t) {
      case "ready":
        this.boundPort = msg.port;
        this.boundRedirect = msg.redirectPort;
        // A snapshot published while it started may have missed it.
        if (this.snapshot) s.proc?.send({ t: "snapshot", snapshot: this.snapshot } satisfies ToWorker);
        s.ready?.resolve();
        s.ready = null;
        break;
      case "passive":
        this.o.onPassiveFailure(msg.pool, msg.address, msg.code);
        break;
      case "usage":
        this.usage?.fromWorker(s.id, msg.u, msg.limited);
        break;
      case "failures":
        for (const [pool, address, n] of msg.counts) this.o.onFailureEvidence(pool, address, n);
        break;
      case "stats":
      case "stopped":
        this.o.stats.addDelta(s.last, msg.dump);
        s.last = msg.dump;
        s.inFlight = msg.t === "stats" ? msg.dump.inFlight : 0;
        s.websockets = msg.t === "stats" ? msg.websockets : 0;
        break;
    }
  }

  private onExit(s: Slot, proc: Subprocess, code: number | null): void {
    if (s.proc !== proc) return;
    s.proc = null;
    s.inFlight = 0;
    s.websockets = 0;
    if (s.ready) {
      s.ready.reject(new Error(`worker ${s.id} exited with ${code} before it was ready`));
      s.ready = null;
      return;
    }
    if (this.stopping) return;
    s.restarts++;
    const delay = Math.min(10_000, 100 * 2 ** Math.min(s.restarts, 7));
    this.o.log.error("proxy worker died; restarting", { worker: s.id, code, restarts: s.restarts, delay_ms: delay });
    setTimeout(() => {
      if (!this.stopping) this.spawn(s).catch((e) => this.o.log.error("proxy worker restart failed", { worker: s.id, error: e }));
    }, delay);
  }
}

/** A port free on `host` right now, for workers that must all bind the same one. */
function freePort(host: string): number {
  const l = Bun.listen({ hostname: host, port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}
