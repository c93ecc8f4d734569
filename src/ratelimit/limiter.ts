// The request path's side: every configured limit decided locally from its bucket, no I/O. A request
// is admitted only when every limit that applies has a token; then each takes one. Admissions are
// counted per bucket (`fresh`) for whoever spreads them: the gossip in this process, or the worker's
// report to the primary.

import type { RateLimitConfig } from "../config/schema.ts";
import { charge, hasToken, take, waitMs } from "./bucket.ts";
import { keyValue, type RequestKeys } from "./key.ts";
import { Limit } from "./limit.ts";
import { type Entry, UsageTable } from "./table.ts";

/** Why a request is refused: the first limit without a token, and when to come back. */
export interface Denial {
  limit: Limit;
  /** Whole seconds until that bucket has a token (at least 1). */
  retryAfterS: number;
}

export interface RateLimiterOptions {
  maxKeys: number;
  /**
   * Which admissions are counted in `fresh`: "cluster" (this process gossips them itself) or "all"
   * (a worker: its siblings share node-scope limits too).
   */
  report: "cluster" | "all";
  /** How long ago an admission elsewhere may have happened when its charge arrives (gossip's delay). */
  chargeLagMs: number;
}

/**
 * What the node's gossip needs from the process that counts (this limiter, or the primary's relay
 * of its workers): the buckets, admissions to send, and where charges from other nodes go.
 */
export interface UsagePort {
  readonly table: UsageTable;
  readonly limits: readonly Limit[];
  takeFresh(fn: (e: Entry, n: number) => void): void;
  /** `lagMs`: how long ago the admissions happened, when the sender said. */
  charge(e: Entry, n: number, now: number, lagMs?: number): void;
}

export class RateLimiter implements UsagePort {
  readonly limits: Limit[];
  readonly table: UsageTable;
  private readonly picked: Entry[];
  /** Buckets with fresh admissions, handed on by takeFresh(). */
  private freshList: Entry[] = [];
  private readonly reportAll: boolean;
  private readonly lagMs: number;

  constructor(cfgs: readonly RateLimitConfig[], o: RateLimiterOptions) {
    this.limits = cfgs.map((c, i) => new Limit(c, i));
    this.table = new UsageTable(o.maxKeys);
    this.picked = new Array<Entry>(this.limits.length);
    this.reportAll = o.report === "all";
    this.lagMs = o.chargeLagMs;
  }

  /** Admits the request (taking a token from each limit that applies) or says which limit refused it. */
  check(r: RequestKeys, now: number = performance.now()): Denial | null {
    const limits = this.limits;
    const picked = this.picked;
    let n = 0;
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      if (l.cfg.pool !== undefined && l.cfg.pool !== r.pool) continue;
      const key = keyValue(l.cfg.key, r);
      if (key === null) continue;
      const e = this.table.lookup(l, key, now);
      if (!hasToken(e, l.params, now)) {
        l.limited++;
        return { limit: l, retryAfterS: Math.max(1, Math.ceil(waitMs(e, l.params) / 1000)) };
      }
      picked[n++] = e;
    }
    for (let i = 0; i < n; i++) {
      const e = picked[i]!;
      take(e);
      e.admittedAt = now;
      if (this.reportAll || e.limit.cluster) {
        if (e.fresh++ === 0) this.freshList.push(e);
      }
    }
    return null;
  }

  /**
   * Requests admitted elsewhere (another node, or a sibling worker) drain this bucket too, as of
   * `lagMs` ago (default: the delay this limiter was built with).
   */
  charge(e: Entry, n: number, now: number, lagMs: number = this.lagMs): void {
    charge(e, e.limit.params, n, now, lagMs);
  }

  /** The limit with this wire id, if configured here. */
  limitById(id: number): Limit | undefined {
    for (const l of this.limits) if (l.id === id) return l;
    return undefined;
  }

  /** Admissions made by another process of this node (a worker), to be handed on like ours. */
  addFresh(e: Entry, n: number): void {
    if (e.fresh === 0) this.freshList.push(e);
    e.fresh += n;
  }

  /** Hands on the admissions made since the last call, bucket by bucket. */
  takeFresh(fn: (e: Entry, n: number) => void): void {
    const list = this.freshList;
    if (list.length === 0) return;
    this.freshList = [];
    for (const e of list) {
      const n = e.fresh;
      e.fresh = 0;
      if (!e.evicted && n > 0) fn(e, n);
    }
  }
}
