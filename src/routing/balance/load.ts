// What the load-aware policies know of a backend in this process: requests in flight and a peak-EWMA
// of its response-header latency. One object per backend address, kept across snapshots, so a request
// that started before a snapshot change still settles on the object it counted on.

/** Decay time constant of the latency EWMA (Finagle/Linkerd use 10 s). */
export const EWMA_DECAY_MS = 10_000;

export class BackendLoad {
  inFlight = 0;
  /** Latency estimate in ms; 0 until the first answer. */
  private ewmaMs = 0;
  /** performance.now() of the last sample. */
  private stampMs = 0;

  /**
   * One response (or failure) after `ms`. Peak EWMA: a slower sample is taken at once, a faster one is
   * blended in by the time since the last sample, so a backend turning slow is avoided immediately and
   * trusted again only gradually.
   */
  observe(ms: number, now: number): void {
    if (ms > this.ewmaMs) this.ewmaMs = ms;
    else {
      const w = Math.exp(-(now - this.stampMs) / EWMA_DECAY_MS);
      this.ewmaMs = this.ewmaMs * w + ms * (1 - w);
    }
    this.stampMs = now;
  }

  /**
   * The estimate as of `now`: it decays towards 0 while no answer arrives, so a backend that was slow
   * once and then got no traffic is probed again eventually (Finagle's PeakEwma does the same).
   */
  latency(now: number): number {
    return this.ewmaMs === 0 ? 0 : this.ewmaMs * Math.exp(-(now - this.stampMs) / EWMA_DECAY_MS);
  }
}
