// Lifeguard suspicion timers: a suspected node is declared dead after a timeout that starts at
// `max` and shrinks towards `min` (logarithmically) as independent peers confirm the suspicion.
// One Suspicion per suspected node; the state table owns them.

import type { Timeout, TimingWheel } from "../timer/wheel.ts";

/** min = mult × max(1, log10(max(1, n))) × interval (ms, floored like Go's fixed-point maths). */
export function suspicionTimeoutMs(suspicionMult: number, n: number, probeIntervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  return Math.floor((suspicionMult * Math.floor(nodeScale * 1000) * probeIntervalMs) / 1000);
}

/** How many independent confirmations shorten the timer: mult−2, or 0 when too few nodes could confirm. */
export function suspicionConfirmationsK(suspicionMult: number, n: number): number {
  const k = suspicionMult - 2;
  return n - 2 < k ? 0 : Math.max(0, k);
}

/**
 * Timeout left after `confirmations` of `k`: max − (ln(c+1)/ln(k+1))·(max−min), at least min,
 * minus what has already elapsed (may be ≤ 0: expire now).
 */
export function remainingSuspicionMs(confirmations: number, k: number, elapsedMs: number, minMs: number, maxMs: number): number {
  const frac = k > 0 ? Math.log(confirmations + 1) / Math.log(k + 1) : 1;
  const raw = Math.floor(maxMs - frac * (maxMs - minMs));
  return Math.max(raw, minMs) - elapsedMs;
}

export interface SuspicionOptions {
  /** Name of the node that raised the suspicion; it does not count as a confirmation. */
  from: string;
  k: number;
  minMs: number;
  maxMs: number;
  wheel: TimingWheel;
  /** Clock used to measure elapsed time (the wheel's clock, so tests can drive both). */
  now: () => number;
  /** Called once when the timer expires, with the number of confirmations received. */
  onTimeout: (confirmations: number) => void;
}

export class Suspicion {
  private readonly confirmedBy = new Set<string>();
  private confirmations = 0;
  private readonly start: number;
  private timer: Timeout;
  private fired = false;
  private cancelled = false;

  constructor(private readonly opts: SuspicionOptions) {
    this.confirmedBy.add(opts.from);
    this.start = opts.now();
    this.timer = opts.wheel.schedule(opts.k < 1 ? opts.minMs : opts.maxMs, () => this.fire());
  }

  get numConfirmations(): number {
    return this.confirmations;
  }

  /** Milliseconds since the suspicion was raised. */
  elapsedMs(): number {
    return this.opts.now() - this.start;
  }

  /**
   * Records a suspicion from another peer. Returns true if it was new (so it should be
   * re-gossiped), false if `from` already counted, k is reached, or the timer is over.
   */
  confirm(from: string): boolean {
    if (this.fired || this.cancelled) return false;
    if (this.confirmations >= this.opts.k) return false;
    if (this.confirmedBy.has(from)) return false;
    this.confirmedBy.add(from);
    this.confirmations++;
    const remaining = remainingSuspicionMs(this.confirmations, this.opts.k, this.elapsedMs(), this.opts.minMs, this.opts.maxMs);
    if (this.timer.cancel()) {
      if (remaining > 0) this.timer = this.opts.wheel.schedule(remaining, () => this.fire());
      else this.fire();
    }
    return true;
  }

  /** Stops the timer (the node was refuted, declared dead by others, or reaped). */
  cancel(): void {
    this.cancelled = true;
    this.timer.cancel();
  }

  private fire(): void {
    if (this.fired || this.cancelled) return;
    this.fired = true;
    this.opts.onTimeout(this.confirmations);
  }
}
