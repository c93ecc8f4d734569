// One configured limit at run time: its bucket parameters, its buckets by key value, and the buckets
// whose usage is still to be told to the cluster.

import type { RateLimitConfig } from "../config/schema.ts";
import { type BucketParams, bucketParams } from "./bucket.ts";
import { limitId } from "./key.ts";
import type { Entry } from "./table.ts";

export class Limit {
  readonly id: number;
  readonly params: BucketParams;
  /** Counted by the whole cluster (else by this node alone). */
  readonly cluster: boolean;
  /** Buckets this process has seen a request for, by key value. */
  readonly entries = new Map<string, Entry>();
  /** Buckets with usage to gossip (sendsLeft > 0), sent round-robin from `cursor`. */
  pending: Entry[] = [];
  cursor = 0;
  /** Requests refused, for metrics. */
  limited = 0;

  constructor(
    readonly cfg: RateLimitConfig,
    readonly index: number,
  ) {
    this.id = limitId(cfg.name);
    this.params = bucketParams(cfg.rate, cfg.burst);
    this.cluster = cfg.scope === "cluster";
  }

  /**
   * The most one origin can have admitted in a bucket we had not heard of from it yet: a full bucket and
   * a second of rate. Caps a first report, so a peer's old count is never charged whole.
   */
  get firstReportCap(): number {
    return this.cfg.burst + this.cfg.rate;
  }
}
