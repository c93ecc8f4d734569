// Active checks (tcp or http) on the timing wheel, passive connect failures from the proxy, and passive
// outlier detection (passive.ts), turned into up/down state with rise/fall thresholds plus an ejected
// flag. Every change is an event carrying the healthy count, which the routing snapshot and the gossip
// metadata follow.

import { type BackendConfig, DEFAULT_POOL, type HealthConfig } from "../config/schema.ts";
import { createLogger, type Logger } from "../log.ts";
import { type Timeout, type TimingWheel, wheel as defaultWheel } from "../timer/wheel.ts";
import { FailureWindow } from "./passive.ts";
import { type HttpCheck, httpProbe, parseExpect, type ProbeResult, tcpProbe } from "./probe.ts";

export type HealthStatus = "unknown" | "up" | "down";

export interface BackendHealth {
  /** The pool this backend serves. */
  pool: string;
  address: string;
  host: string;
  port: number;
  /** Configured share of requests; 0 = draining. */
  weight: number;
  status: HealthStatus;
  /** Epoch ms of the last completed active check, null before the first. */
  lastCheck: number | null;
  lastError: string | null;
  /** Status code of the last http check, null for tcp checks or before the first answer. */
  lastStatus: number | null;
  /** Total failed checks and passive failures since start. */
  failures: number;
  /** Consecutive passes / failures, for rise and fall. */
  passes: number;
  fails: number;
  /** Epoch ms until which passive outlier detection keeps it out, or null. */
  ejectedUntil: number | null;
  /** Times it was ejected since start. */
  ejections: number;
  /** Failed requests within the current fail window (passive). */
  recentFailures: number;
}

export interface HealthChange {
  backend: Readonly<BackendHealth>;
  from: HealthStatus;
  to: HealthStatus;
  /** check/passive: a status change; ejected/returned: passive outlier detection (status unchanged). */
  reason: "check" | "passive" | "ejected" | "returned";
  healthyCount: number;
}

export type Prober = (host: string, port: number, timeoutMs: number) => Promise<ProbeResult>;

export interface HealthCheckerOptions {
  wheel?: TimingWheel;
  /** Replaces the configured check (tests script results with it). */
  prober?: Prober;
  logger?: Logger;
  /** Epoch ms clock for ejections (default Date.now). */
  now?: () => number;
  /** Pool the backends belong to (default: "default"). */
  pool?: string;
}

interface Entry {
  state: BackendHealth;
  timer: Timeout | null;
  /** Removed by a reload: an in-flight check's result is dropped. */
  removed: boolean;
  window: FailureWindow;
  /** A confirming check is running. */
  confirming: boolean;
  ejectTimer: Timeout | null;
}

/** A backend's state before its first check. */
export function initialHealth(b: BackendConfig, pool: string): BackendHealth {
  return {
    pool,
    address: b.address,
    host: b.host,
    port: b.port,
    weight: b.weight,
    status: "unknown",
    lastCheck: null,
    lastError: null,
    lastStatus: null,
    failures: 0,
    passes: 0,
    fails: 0,
    ejectedUntil: null,
    ejections: 0,
    recentFailures: 0,
  };
}

/** Whether a backend may get new requests as far as health goes (weight aside). */
export function isServing(b: Readonly<BackendHealth>): boolean {
  return b.status === "up" && b.ejectedUntil === null;
}

export class HealthChecker {
  private entries: Entry[];
  private byAddress = new Map<string, Entry>();
  private readonly listeners: ((c: HealthChange) => void)[] = [];
  private readonly wheel: TimingWheel;
  private readonly scripted: Prober | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  private running = false;
  private transitionCount = 0;
  private httpCheck: HttpCheck | undefined;
  private readonly pool: string;

  constructor(
    backends: readonly BackendConfig[],
    private cfg: HealthConfig,
    opts: HealthCheckerOptions = {},
  ) {
    this.pool = opts.pool ?? DEFAULT_POOL;
    this.entries = backends.map((b) => this.newEntry(b));
    this.wheel = opts.wheel ?? defaultWheel;
    this.scripted = opts.prober;
    this.log = opts.logger ?? createLogger("health");
    this.now = opts.now ?? Date.now;
    this.httpCheck = httpCheckOf(cfg);
  }

  private newEntry(b: BackendConfig): Entry {
    const e: Entry = {
      state: initialHealth(b, this.pool),
      timer: null,
      removed: false,
      window: new FailureWindow(),
      confirming: false,
      ejectTimer: null,
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
    for (const e of this.entries) this.cancelTimers(e);
  }

  private cancelTimers(e: Entry): void {
    e.timer?.cancel();
    e.timer = null;
    e.ejectTimer?.cancel();
    e.ejectTimer = null;
  }

  /**
   * Applies a reloaded backend list and settings. Backends that stay keep their state (no flap to
   * unknown) and take their new weight; new ones start unknown and are checked at once; removed ones
   * stop being checked. Resolves once the new backends have had their first check.
   */
  async update(backends: readonly BackendConfig[], cfg: HealthConfig): Promise<{ added: string[]; removed: string[] }> {
    this.cfg = cfg;
    this.httpCheck = httpCheckOf(cfg);
    const keep = new Set(backends.map((b) => b.address));
    const removed: string[] = [];
    for (const e of this.entries) {
      if (keep.has(e.state.address)) continue;
      e.removed = true;
      this.cancelTimers(e);
      this.byAddress.delete(e.state.address);
      removed.push(e.state.address);
    }
    const added: Entry[] = [];
    this.entries = backends.map((b) => {
      const old = this.byAddress.get(b.address);
      if (old) {
        old.state.weight = b.weight;
        return old;
      }
      const e = this.newEntry(b);
      added.push(e);
      return e;
    });
    if (this.running) await Promise.all(added.map((e) => this.check(e)));
    return { added: added.map((e) => e.state.address), removed };
  }

  /** Backends that may get requests (up, not ejected), whatever their weight. */
  get healthyCount(): number {
    let n = 0;
    for (const e of this.entries) if (isServing(e.state)) n++;
    return n;
  }

  /** The weights of those summed: this node's weight for the cluster (draining backends add 0). */
  get healthyWeight(): number {
    let w = 0;
    for (const e of this.entries) if (isServing(e.state)) w += e.state.weight;
    return w;
  }

  get ejectedCount(): number {
    let n = 0;
    for (const e of this.entries) if (e.state.ejectedUntil !== null) n++;
    return n;
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

  /**
   * `count` requests to this backend failed (reset, timeout, 502/503/504): evidence for passive outlier
   * detection. At max_fails within fail_window the active check runs at once, and only if it fails too is
   * the backend ejected for ejection_time (see passive.ts for why the check decides).
   */
  reportFailure(address: string, count = 1): void {
    const c = this.cfg;
    const e = this.byAddress.get(address);
    if (!e || c.maxFails === 0 || e.removed) return;
    const now = this.now();
    const due = e.window.record(now, count, c.maxFails, c.failWindowMs);
    e.state.recentFailures = e.window.count;
    if (!due || e.confirming || e.state.ejectedUntil !== null || e.state.status !== "up") return;
    e.confirming = true;
    void this.confirm(e);
  }

  private async confirm(e: Entry): Promise<void> {
    const s = e.state;
    const result = await this.probe(s);
    e.confirming = false;
    if (!this.running || e.removed) return;
    s.lastCheck = this.now();
    e.window.clear();
    s.recentFailures = 0;
    // One confirming check per fail window at most, whatever it finds: failures cannot buy checks faster.
    e.window.quietUntil = this.now() + this.cfg.failWindowMs;
    if (result.ok) {
      // The backend passes its check: the failures were the requests' own (or a client's doing).
      this.log.info("passive failures not confirmed by the check; backend stays in", { backend: s.address, max_fails: this.cfg.maxFails });
      this.apply(s, result);
      return;
    }
    this.apply(s, result);
    if (s.status === "up") this.eject(e);
  }

  /** Takes a confirmed outlier out for ejection_time, unless max_ejected_percent is reached. */
  private eject(e: Entry): void {
    const s = e.state;
    const cap = Math.floor((this.entries.length * this.cfg.maxEjectedPercent) / 100);
    if (this.ejectedCount >= cap) {
      this.log.warn("outlier not ejected: max_ejected_percent reached", { backend: s.address, ejected: this.ejectedCount, cap });
      return;
    }
    s.ejectedUntil = this.now() + this.cfg.ejectionTimeMs;
    s.ejections++;
    e.ejectTimer = this.wheel.schedule(this.cfg.ejectionTimeMs, () => {
      e.ejectTimer = null;
      if (e.removed || s.ejectedUntil === null) return;
      s.ejectedUntil = null;
      this.emit(s, s.status, s.status, "returned");
    });
    this.emit(s, s.status, s.status, "ejected");
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

  private async probe(s: BackendHealth): Promise<ProbeResult> {
    try {
      if (this.scripted) return await this.scripted(s.host, s.port, this.cfg.timeoutMs);
      const http = this.httpCheck;
      return await (http ? httpProbe(s.host, s.port, this.cfg.timeoutMs, http) : tcpProbe(s.host, s.port, this.cfg.timeoutMs));
    } catch (err) {
      return { ok: false, error: String(err) };
    }
  }

  private async check(e: Entry): Promise<void> {
    const s = e.state;
    const result = await this.probe(s);
    if (!this.running || e.removed) return;
    s.lastCheck = this.now();
    this.apply(s, result);
    this.schedule(e);
  }

  private apply(s: BackendHealth, r: ProbeResult): void {
    if (r.status !== undefined) s.lastStatus = r.status;
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
    this.transitionCount++;
    this.emit(s, from, to, reason);
  }

  private emit(s: BackendHealth, from: HealthStatus, to: HealthStatus, reason: HealthChange["reason"]): void {
    const healthy = this.healthyCount;
    const change: HealthChange = { backend: s, from, to, reason, healthyCount: healthy };
    const fields = { pool: this.pool, backend: s.address, from, to, reason, healthy, total: this.entries.length, error: s.lastError ?? undefined };
    if (reason === "ejected") this.log.warn("backend ejected (passive outlier)", { ...fields, until: new Date(s.ejectedUntil ?? 0).toISOString() });
    else if (reason === "returned") this.log.info("backend back from ejection", fields);
    else if (to === "up") this.log.info("backend up", fields);
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

/** The http check the config describes, or undefined for tcp. */
function httpCheckOf(cfg: HealthConfig): HttpCheck | undefined {
  if (cfg.type !== "http") return undefined;
  const expect = parseExpect(cfg.expect);
  // parse.ts rejected a bad range before this runs; 200-399 stands in should one slip through.
  return { path: cfg.path, host: cfg.host, expect: typeof expect === "string" ? { min: 200, max: 399 } : expect };
}
