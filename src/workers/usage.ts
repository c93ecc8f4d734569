// Rate limits with worker processes. Each worker decides on its own buckets (no IPC on the request
// path); every USAGE_EVERY_MS it reports what it admitted, bucket by bucket, to the primary. The
// primary counts those as this node's admissions (its gossip sends them to the cluster) and relays
// them to the sibling workers, together with what other nodes admitted, as charges. So every bucket in
// every worker is drained by every admission in the cluster, one IPC hop (≤ 2 × USAGE_EVERY_MS) later
// for a sibling's. Wire form: flat triplets [limit index, bucket hash, admissions, …].

import type { RateLimitConfig } from "../config/schema.ts";
import { RateLimiter, type UsagePort } from "../ratelimit/limiter.ts";
import type { Entry } from "../ratelimit/table.ts";

export const USAGE_EVERY_MS = 20;

/** Flat [limit index, hash, n, …] triplets. */
export type UsageTriplets = number[];

/** Applies triplets to a limiter's buckets: `fn` per bucket (created when new). Bad triplets are skipped. */
export function eachTriplet(limiter: RateLimiter, u: UsageTriplets, now: number, fn: (e: Entry, n: number) => void): void {
  for (let i = 0; i + 2 < u.length; i += 3) {
    const l = limiter.limits[u[i]!];
    const hash = u[i + 1]!;
    const n = u[i + 2]!;
    if (l === undefined || !Number.isSafeInteger(hash) || !(n > 0)) continue;
    fn(limiter.table.remote(l, hash, now), n);
  }
}

/** The primary's side: its own table of this node's buckets, and one outbox per worker. */
export class UsageRelay implements UsagePort {
  /** Holds the primary's buckets and the admissions its gossip has not taken yet; it never decides. */
  private readonly counts: RateLimiter;
  private readonly outboxes: UsageTriplets[];

  constructor(cfgs: readonly RateLimitConfig[], maxKeys: number, workers: number) {
    // Its buckets never decide, so charges need no lag.
    this.counts = new RateLimiter(cfgs, { maxKeys, report: "cluster", chargeLagMs: 0 });
    this.outboxes = Array.from({ length: workers }, () => []);
  }

  get table() {
    return this.counts.table;
  }

  get limits() {
    return this.counts.limits;
  }

  /** Worker `from` admitted these (and refused `limited` per limit): this node's admissions, charges for its siblings. */
  fromWorker(from: number, u: UsageTriplets, limited: readonly number[] = []): void {
    limited.forEach((n, i) => {
      const l = this.counts.limits[i];
      if (l && n > 0) l.limited += n;
    });
    const now = performance.now();
    eachTriplet(this.counts, u, now, (e, n) => {
      // admitted within the worker's last report period
      e.admittedAt = now - USAGE_EVERY_MS / 2;
      if (e.limit.cluster) this.counts.addFresh(e, n);
      this.outboxes.forEach((box, id) => {
        if (id !== from) box.push(e.limit.index, e.hash, n);
      });
    });
  }

  /** Another node admitted these: a charge for every worker (each applies its own lag). */
  charge(e: Entry, n: number): void {
    for (const box of this.outboxes) box.push(e.limit.index, e.hash, n);
  }

  takeFresh(fn: (e: Entry, n: number) => void): void {
    this.counts.takeFresh(fn);
  }

  /** Worker `id`'s charges since the last call (empty when none). */
  take(id: number): UsageTriplets {
    const box = this.outboxes[id]!;
    if (box.length === 0) return box;
    this.outboxes[id] = [];
    return box;
  }
}
