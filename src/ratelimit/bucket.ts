// A token bucket that other nodes' requests also drain: local admissions take a token each, the
// cluster's admissions (learned by gossip) are charged as they arrive, and it refills at `rate`.
// Summed over any window, what the whole cluster admits is then rate × window + burst (+ what is
// still in flight on gossip), whatever the spread of traffic over nodes.

export interface BucketState {
  tokens: number;
  /** When `tokens` was last brought up to date (ms, this process's clock). */
  at: number;
}

export interface BucketParams {
  /** Tokens per ms. */
  readonly perMs: number;
  readonly burst: number;
  /**
   * How far charges may overdraw the bucket: two seconds of rate and two bursts. Deep enough for nodes
   * that admitted at once before hearing of each other; bounded, so a burst elsewhere silences this
   * node for at most ~2 s.
   */
  readonly floor: number;
}

/** The parameters of a limit of `rate` per second, `burst` at once. */
export function bucketParams(rate: number, burst: number): BucketParams {
  return { perMs: rate / 1000, burst, floor: -2 * (burst + rate) };
}

function refill(b: BucketState, p: BucketParams, now: number): void {
  const t = b.tokens + (now - b.at) * p.perMs;
  b.tokens = t > p.burst ? p.burst : t;
  b.at = now;
}

/** Brings the bucket up to date; true when a request may be admitted now (takes nothing). */
export function hasToken(b: BucketState, p: BucketParams, now: number): boolean {
  refill(b, p, now);
  return b.tokens >= 1;
}

/** Takes the token hasToken() found. */
export function take(b: BucketState): void {
  b.tokens -= 1;
}

/** Milliseconds until one token is there (after hasToken() said no). */
export function waitMs(b: BucketState, p: BucketParams): number {
  return (1 - b.tokens) / p.perMs;
}

/**
 * Requests admitted elsewhere drain this bucket too (down to the floor). They were admitted up to
 * `lagMs` ago (gossip's delay), so they are charged as of then: a bucket that sat full meanwhile
 * would otherwise have dropped that refill at the cap, and a node whose turn comes exactly when the
 * cluster's bucket is full again would find it short.
 */
export function charge(b: BucketState, p: BucketParams, n: number, now: number, lagMs: number): void {
  const then = now - lagMs;
  if (then > b.at) refill(b, p, then);
  const t = b.tokens - n;
  b.tokens = t < p.floor ? p.floor : t;
  refill(b, p, now);
}
