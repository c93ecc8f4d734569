// Active TCP checks on the timing wheel plus passive failures from the proxy, turned into
// up/down state with rise/fall thresholds. Every transition is an event carrying the healthy count,
// which the routing snapshot and (later) the gossip metadata follow.

import { type BackendConfig, DEFAULT_POOL, type HealthConfig } from "../config/schema.ts";
import { createLogger, type Logger } from "../log.ts";
import { type Timeout, type TimingWheel, wheel as defaultWheel } from "../timer/wheel.ts";
import { type ProbeResult, tcpProbe } from "./probe.ts";

export type HealthStatus = "unknown" | "up" | "down";

export interface BackendHealth {
  /** The pool this backend serves. */
  pool: string;
  address: string;
  host: string;
  port: number;
  status: HealthStatus;
  /** Epoch ms of the last completed active check, null before the first. */
  lastCheck: number | null;
  lastError: string | null;
  /** Total failed checks and passive failures since start. */
  failures: number;
  /** Consecutive passes / failures, for rise and fall. */
  passes: number;
  fails: number;
}

export interface HealthChange {
  backend: Readonly<BackendHealth>;
  from: HealthStatus;
  to: HealthStatus;
  reason: "check" | "passive";
  healthyCount: number;
}

export type Prober = (host: string, port: number, timeoutMs: number) => Promise<ProbeResult>;

export interface HealthCheckerOptions {
  wheel?: TimingWheel;
  prober?: Prober;
  logger?: Logger;
  /** Pool the backends belong to (default: "default"). */
  pool?: string;
}

interface Entry {
  state: BackendHealth;
  timer: Timeout | null;
  /** Removed by a reload: an in-flight check's result is dropped. */
  removed: boolean;
}

export class HealthChecker {
  private entries: Entry[];
  private byAddress = new Map<string, Entry>();
  private readonly listeners: ((c: HealthChange) => void)[] = [];
  private readonly wheel: TimingWheel;
  private readonly prober: Prober;
  private readonly log: Logger;
  private running = false;
  private healthy = 0;
  private transitionCount = 0;
  private readonly pool: string;

  constructor(
    backends: readonly BackendConfig[],
    private cfg: HealthConfig,
    opts: HealthCheckerOptions = {},
  ) {
    this.pool = opts.pool ?? DEFAULT_POOL;
    this.entries = backends.map((b) => this.newEntry(b));
    this.wheel = opts.wheel ?? defaultWheel;
    this.prober = opts.prober ?? tcpProbe;
    this.log = opts.logger ?? createLogger("health");
  }

  private newEntry(b: BackendConfig): Entry {
    const e: Entry = {
      state: { pool: this.pool, address: b.address, host: b.host, port: b.port, status: "unknown", lastCheck: null, lastError: null, failures: 0, passes: 0, fails: 0 },
      timer: null,
      removed: false,
    };
    this.byAddress.set(b.address, e);
    return e;
  }

  onChange(fn: (c: HealthChange) => void): void {
    this.listeners.push(fn);
  }

  /** Runs the first check of every backend now; resolves once all have a first answer. */
  async start(): Promise<void> {
    this.running = true;
    await Promise.all(this.entries.map((e) => this.check(e)));
  }

  stop(): void {
    this.running = false;
    for (const e of this.entries) {
      e.timer?.cancel();
      e.timer = null;
    }
  }

  /**
   * Applies a reloaded backend list and settings. Backends that stay keep their state (no flap to
   * unknown); new ones start unknown and are checked at once; removed ones stop being checked.
   * Resolves once the new backends have had their first check.
   */
  async update(backends: readonly BackendConfig[], cfg: HealthConfig): Promise<{ added: string[]; removed: string[] }> {
    this.cfg = cfg;
    const keep = new Set(backends.map((b) => b.address));
    const removed: string[] = [];
    for (const e of this.entries) {
      if (keep.has(e.state.address)) continue;
      e.removed = true;
      e.timer?.cancel();
      e.timer = null;
      this.byAddress.delete(e.state.address);
      if (e.state.status === "up") this.healthy--;
      removed.push(e.state.address);
    }
    const added: Entry[] = [];
    this.entries = backends.map((b) => {
      const old = this.byAddress.get(b.address);
      if (old) return old;
      const e = this.newEntry(b);
      added.push(e);
      return e;
    });
    if (this.running) await Promise.all(added.map((e) => this.check(e)));
    return { added: added.map((e) => e.state.address), removed };
  }

  get healthyCount(): number {
    return this.healthy;
  }

  get transitions(): number {
    return this.transitionCount;
  }

  backends(): readonly Readonly<BackendHealth>[] {
    return this.entries.map((e) => e.state);
  }

  /**
   * The proxy could not connect to this backend: it is down now, not after `fall` checks,
   * since a refused connection is as certain as a failed check gets. Active checks bring it back.
   */
  reportConnectFailure(address: string, error: string): void {
    const e = this.byAddress.get(address);
    if (!e) return;
    const s = e.state;
    s.failures++;
    s.lastError = error;
    s.passes = 0;
    if (s.status !== "down") this.transition(s, "down", "passive");
  }

  private schedule(e: Entry): void {
    if (!this.running || e.removed) return;
    // ±10% jitter so backends are not probed in lockstep.
    const jitter = this.cfg.intervalMs * 0.1 * (Math.random() * 2 - 1);
    e.timer = this.wheel.schedule(Math.max(1, this.cfg.intervalMs + jitter), () => {
      e.timer = null;
      void this.check(e);
    });
  }

  private async check(e: Entry): Promise<void> {
    const s = e.state;
    let result: ProbeResult;
    try {
      result = await this.prober(s.host, s.port, this.cfg.timeoutMs);
    } catch (err) {
      result = { ok: false, error: String(err) };
    }
    if (!this.running || e.removed) return;
    s.lastCheck = Date.now();
    this.apply(s, result);
    this.schedule(e);
  }

  private apply(s: BackendHealth, r: ProbeResult): void {
    if (r.ok) {
      s.lastError = null;
      s.fails = 0;
      s.passes++;
      // unknown → up on the first pass; down → up after `rise` passes in a row.
      if (s.status === "unknown" || (s.status === "down" && s.passes >= this.cfg.rise)) this.transition(s, "up", "check");
      return;
    }
    s.failures++;
    s.lastError = r.error ?? "failed";
    s.passes = 0;
    s.fails++;
    // unknown → down on the first failure: a dead backend at start never gets traffic.
    if (s.status === "unknown" || (s.status === "up" && s.fails >= this.cfg.fall)) this.transition(s, "down", "check");
  }

  private transition(s: BackendHealth, to: HealthStatus, reason: "check" | "passive"): void {
    const from = s.status;
    s.status = to;
    if (from === "up") this.healthy--;
    if (to === "up") this.healthy++;
    this.transitionCount++;
    const change: HealthChange = { backend: s, from, to, reason, healthyCount: this.healthy };
    const fields = { pool: this.pool, backend: s.address, from, to, reason, healthy: this.healthy, total: this.entries.length, error: s.lastError ?? undefined };
    if (to === "up") this.log.info("backend up", fields);
    else this.log.warn("backend down", fields);
    for (const fn of this.listeners) {
      try {
        fn(change);
      } catch (e) {
        this.log.error("health listener failed", { error: e });
      }
    }
  }
}
