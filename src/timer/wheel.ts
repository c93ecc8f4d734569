// Hashed timing wheel (Varghese & Lauck scheme 6, the shape of Netty's HashedWheelTimer).
//
// Time is cut into ticks of `tickMs`; tick boundary k is at `start + k * tickMs` on the monotonic clock.
// An entry due at time D belongs to the first boundary >= D, lives in bucket (k & mask) and carries the
// number of full wheel turns (`rounds`) still to wait. Buckets are circular doubly linked lists with a
// sentinel, so schedule and cancel are O(1) and cancel never scans.
//
// One unref'd JS timer drives the wheel, armed only while entries are pending. Each wake reads the clock
// and processes every boundary that has passed (drift correction), so an entry never fires before its
// deadline and fires at the first boundary at or after it.

import { createLogger } from "../log.ts";

const log = createLogger("timer");

export interface Timeout {
  /** Returns true if the entry was still pending (and now never fires). */
  cancel(): boolean;
  readonly active: boolean;
}

export interface WheelOptions {
  /** Tick duration in ms (default 10). Firing resolution: an entry fires at most one tick late. */
  tickMs?: number;
  /** Buckets per turn (default 512, rounded up to a power of two). */
  wheelSize?: number;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
  /** No JS timer: the caller drives the wheel with advance(). */
  manual?: boolean;
}

/** Invalid wheel option or delay; says which value and why. */
export class TimerRangeError extends RangeError {
  constructor(
    readonly what: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`timer: ${what}=${String(value)} ${reason}`);
    this.name = "TimerRangeError";
  }
}

const MAX_WHEEL_SIZE = 1 << 24;

const PENDING = 0;
const FIRED = 1;
const CANCELLED = 2;
type EntryState = typeof PENDING | typeof FIRED | typeof CANCELLED;

const noop = (): void => {};

// Lets an entry tell its wheel it was cancelled without exposing that hook on the public class.
const kRemoved = Symbol("removed");

interface Owner {
  [kRemoved](): void;
}

class Node {
  prev: Node = this;
  next: Node = this;
}

function unlink(n: Node): void {
  n.prev.next = n.next;
  n.next.prev = n.prev;
  n.prev = n;
  n.next = n;
}

function append(list: Node, n: Node): void {
  const tail = list.prev;
  n.prev = tail;
  n.next = list;
  tail.next = n;
  list.prev = n;
}

class Entry extends Node implements Timeout {
  rounds: number;
  state: EntryState = PENDING;
  fn: () => void;
  readonly owner: Owner;

  constructor(owner: Owner, fn: () => void, rounds: number) {
    super();
    this.owner = owner;
    this.fn = fn;
    this.rounds = rounds;
  }

  get active(): boolean {
    return this.state === PENDING;
  }

  cancel(): boolean {
    if (this.state !== PENDING) return false;
    this.state = CANCELLED;
    this.fn = noop; // drop the closure now, not when the entry object dies
    unlink(this);
    this.owner[kRemoved]();
    return true;
  }
}

function roundUpPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export class TimingWheel implements Owner {
  readonly tickMs: number;
  readonly wheelSize: number;
  private readonly mask: number;
  private readonly now: () => number;
  private readonly manual: boolean;
  private readonly start: number;
  private readonly buckets: Node[];
  /** Placed at a bucket's tail while it is processed: everything after it arrived during this pass. */
  private readonly marker = new Node();
  private count = 0;
  /** First tick boundary not yet processed. */
  private nextTick = 1;
  private lastTickTime: number;
  private processing = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private armedTick = -1;

  constructor(opts: WheelOptions = {}) {
    const tickMs = opts.tickMs ?? 10;
    if (!Number.isFinite(tickMs) || tickMs <= 0) throw new TimerRangeError("tickMs", tickMs, "must be a finite number > 0");
    const size = opts.wheelSize ?? 512;
    if (!Number.isInteger(size) || size < 1 || size > MAX_WHEEL_SIZE) {
      throw new TimerRangeError("wheelSize", size, `must be an integer in [1, ${MAX_WHEEL_SIZE}]`);
    }
    this.tickMs = tickMs;
    this.wheelSize = roundUpPow2(size);
    this.mask = this.wheelSize - 1;
    this.now = opts.now ?? (() => performance.now());
    this.manual = opts.manual ?? false;
    this.start = this.now();
    this.lastTickTime = this.start;
    this.buckets = new Array<Node>(this.wheelSize);
    for (let i = 0; i < this.wheelSize; i++) this.buckets[i] = new Node();
  }

  /** Pending entries. */
  get size(): number {
    return this.count;
  }

  /** Whether the driving JS timer is currently armed (never in manual mode). */
  get armed(): boolean {
    return this.timer !== null;
  }

  /**
   * Clock time of the tick boundary being processed (inside a callback) or last processed.
   * A callback firing for an entry due at D sees D <= tickTime <= D + tickMs.
   */
  get tickTime(): number {
    return this.lastTickTime;
  }

  /** Run fn once, `delayMs` from now. delay <= 0 fires on the next tick, never synchronously. */
  schedule(delayMs: number, fn: () => void): Timeout {
    if (Number.isNaN(delayMs) || delayMs === Infinity) {
      throw new TimerRangeError("delayMs", delayMs, "must be a finite number");
    }
    const t = this.now();
    if (this.count === 0 && !this.processing) this.fastForward(t);
    const deadline = delayMs > 0 ? t + delayMs : t;
    let k = Math.ceil((deadline - this.start) / this.tickMs);
    // Float rounding must never put the boundary before the deadline.
    while (this.start + k * this.tickMs < deadline) k++;
    if (k < this.nextTick) k = this.nextTick;
    const e = new Entry(this, fn, Math.floor((k - this.nextTick) / this.wheelSize));
    append(this.buckets[k & this.mask], e);
    this.count++;
    if (!this.manual && !this.processing && (this.timer === null || k < this.armedTick)) this.arm(k);
    return e;
  }

  /**
   * Process every tick boundary <= toMs (default now()) and fire what is due.
   * In manual mode this is the only thing that moves the wheel. Ignored when called from a callback.
   */
  advance(toMs?: number): void {
    if (this.processing) return;
    this.runTo(toMs ?? this.now());
    if (!this.manual) this.rearm();
  }

  /** Cancel everything and disarm the JS timer. The wheel stays usable. */
  stop(): void {
    for (const list of this.buckets) {
      let n = list.next;
      while (n !== list) {
        const next = n.next;
        // The marker stays linked so an in-progress pass (stop() from a callback) ends cleanly.
        if (n instanceof Entry) {
          n.state = CANCELLED;
          n.fn = noop;
          unlink(n);
        }
        n = next;
      }
    }
    this.count = 0;
    this.disarm();
  }

  [kRemoved](): void {
    this.count--;
    if (this.count === 0) this.disarm();
  }

  private runTo(target: number): void {
    this.processing = true;
    try {
      while (this.count > 0) {
        const k = this.nextTick;
        const boundary = this.start + k * this.tickMs;
        if (boundary > target) break;
        // Mark the tick processed first: entries scheduled by its callbacks go to a later tick.
        this.nextTick = k + 1;
        this.lastTickTime = boundary;
        this.expire(this.buckets[k & this.mask]);
      }
    } finally {
      this.processing = false;
    }
    if (this.count === 0) this.fastForward(target);
  }

  private expire(list: Node): void {
    const marker = this.marker;
    append(list, marker);
    for (;;) {
      const n = list.next;
      if (n === marker || n === list) break;
      const e = n as Entry;
      unlink(e);
      if (e.rounds > 0) {
        e.rounds--;
        append(list, e); // after the marker: not seen again in this pass
        continue;
      }
      e.state = FIRED;
      this.count--;
      const fn = e.fn;
      e.fn = noop;
      try {
        fn();
      } catch (err) {
        log.error("timer callback threw", { err, stack: err instanceof Error ? err.stack : undefined });
      }
    }
    unlink(marker);
  }

  /** An empty wheel need not walk the ticks it slept through: jump to the first boundary after t. */
  private fastForward(t: number): void {
    let k = Math.floor((t - this.start) / this.tickMs) + 1;
    while (k > 1 && this.start + (k - 1) * this.tickMs > t) k--;
    while (this.start + k * this.tickMs <= t) k++;
    if (k > this.nextTick) this.nextTick = k;
  }

  /** First tick at or after nextTick whose bucket holds anything (it may only hold later rounds). */
  private nextBusyTick(): number {
    for (let i = 0; i < this.wheelSize; i++) {
      const k = this.nextTick + i;
      const list = this.buckets[k & this.mask];
      if (list.next !== list) return k;
    }
    return this.nextTick; // unreachable while count > 0
  }

  private rearm(): void {
    if (this.count === 0) this.disarm();
    else this.arm(this.nextBusyTick());
  }

  private arm(k: number): void {
    if (this.timer !== null) {
      if (this.armedTick === k) return;
      clearTimeout(this.timer);
    }
    const wait = this.start + k * this.tickMs - this.now();
    this.armedTick = k;
    this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(wait)));
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer === null) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.armedTick = -1;
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.armedTick = -1;
    this.runTo(this.now());
    this.rearm();
  };
}

/** Process-wide default wheel (10 ms ticks). */
export const wheel: TimingWheel = new TimingWheel({ tickMs: 10 });
