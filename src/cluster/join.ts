// Joining: resolve seeds (hostnames to all their addresses), push/pull with each, and keep
// retrying with backoff while we are alone, so a cluster heals after a bootstrap node restarts.

import type { Logger } from "../log.ts";
import type { Timeout, TimingWheel } from "../timer/wheel.ts";
import { resolveSeed, type SeedAddress } from "./address.ts";
import type { Endpoint } from "./transport.ts";
import type { PushNodeState } from "./messages.ts";

export class JoinError extends Error {
  constructor(
    readonly seeds: readonly string[],
    readonly errors: readonly Error[],
  ) {
    super(`could not join any of ${seeds.length} seed(s): ${errors.map((e) => e.message).join("; ") || "no addresses"}`);
    this.name = "JoinError";
  }
}

export interface JoinerOptions {
  localName: string;
  /** Port used for seeds given without one. */
  defaultPort: number;
  /** Our own endpoints (advertised and bound), so a seed list that includes us is harmless. */
  isSelf: (ep: Endpoint) => boolean;
  pushPull: (to: Endpoint, join: boolean) => Promise<PushNodeState[]>;
  /** True while no other node is alive or suspect in our table. */
  alone: () => boolean;
  wheel: TimingWheel;
  logger: Logger;
  /** Retry jitter source (default Math.random). */
  random?: () => number;
  /** Backoff cap between join attempts while alone. */
  retryMaxMs: number;
  /** First retry delay (doubles up to retryMaxMs). */
  retryMinMs?: number;
}

export interface JoinResult {
  joined: number;
  errors: Error[];
}

export class Joiner {
  private timer: Timeout | null = null;
  private backoff: number;
  private seeds: string[] = [];
  private running = false;
  private stopped = false;

  constructor(private readonly opts: JoinerOptions) {
    this.backoff = opts.retryMinMs ?? Math.min(1000, opts.retryMaxMs);
  }

  /** One attempt: push/pull (join=true) with every address of every seed. */
  async joinOnce(seeds: readonly string[]): Promise<JoinResult> {
    const errors: Error[] = [];
    let joined = 0;
    const targets: SeedAddress[] = [];
    await Promise.all(
      seeds.map(async (seed) => {
        try {
          targets.push(...(await resolveSeed(seed, this.opts.defaultPort)));
        } catch (err) {
          errors.push(new Error(`cannot resolve seed ${seed}: ${err instanceof Error ? err.message : String(err)}`));
        }
      }),
    );
    const results = await Promise.allSettled(
      targets
        .map((t) => ({ address: t.host, port: t.port }))
        .filter((ep) => !this.opts.isSelf(ep))
        .map(async (ep) => {
          const remote = await this.opts.pushPull(ep, true);
          // a seed that routes back to us lists only ourselves: not a join
          if (remote.every((s) => s.name === this.opts.localName)) throw new Error(`${ep.address}:${ep.port} is this node`);
        }),
    );
    for (const r of results) {
      if (r.status === "fulfilled") joined++;
      else errors.push(r.reason instanceof Error ? r.reason : new Error(String(r.reason)));
    }
    return { joined, errors };
  }

  /**
   * Keeps `seeds` as the retry list and tries them now and then whenever we are alone,
   * with exponential backoff (capped at retryMaxMs). Never throws.
   */
  start(seeds: readonly string[]): void {
    this.seeds = [...seeds];
    if (this.seeds.length === 0 || this.stopped) return;
    // The first attempt happens even if a peer reached us first: that peer may know only part of the
    // cluster our seeds are in, and while we are not alone nothing would ever join the two.
    this.schedule(0, true);
  }

  /** Replaces the retry list (e.g. after a configuration reload); takes effect at the next attempt. */
  setSeeds(seeds: readonly string[]): void {
    const wasEmpty = this.seeds.length === 0;
    this.seeds = [...seeds];
    if (wasEmpty && this.seeds.length > 0 && !this.stopped && !this.timer?.active) this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
  }

  private schedule(delayMs: number, first = false): void {
    if (this.stopped) return;
    this.timer?.cancel();
    this.timer = this.opts.wheel.schedule(delayMs, () => void this.tick(first));
  }

  private async tick(first = false): Promise<void> {
    if (this.stopped || this.running) return;
    if (!first && !this.opts.alone()) {
      // in a cluster: check again later, and start fast if we ever end up alone
      this.backoff = this.opts.retryMinMs ?? Math.min(1000, this.opts.retryMaxMs);
      this.schedule(this.opts.retryMaxMs);
      return;
    }
    this.running = true;
    try {
      const { joined, errors } = await this.joinOnce(this.seeds);
      if (joined > 0) {
        this.opts.logger.info("joined cluster", { via: joined });
        this.backoff = this.opts.retryMinMs ?? Math.min(1000, this.opts.retryMaxMs);
        this.schedule(this.opts.retryMaxMs);
        return;
      }
      this.opts.logger.debug("join attempt failed, will retry", { inMs: this.backoff, errors: errors.map((e) => e.message) });
    } catch (err) {
      this.opts.logger.warn("join attempt failed", { err });
    } finally {
      this.running = false;
    }
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.opts.retryMaxMs);
    // jitter so restarted nodes do not retry in lockstep
    this.schedule(delay * (0.75 + (this.opts.random ?? Math.random)() * 0.5));
  }
}
