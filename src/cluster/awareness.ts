// Lifeguard "local health awareness": a small score that grows when our own probes fail
// for reasons that look local (missing acks *and* missing nacks) and shrinks on success.
// A slow or overloaded node then probes less often instead of falsely accusing peers.

export class Awareness {
  private current = 0;

  /** @param max scores live in [0, max-1]; max = AwarenessMaxMultiplier (8 by default). */
  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`awareness max must be an integer ≥ 1, got ${max}`);
  }

  /** Adds delta and clamps; returns the new score. */
  applyDelta(delta: number): number {
    const next = this.current + delta;
    this.current = next < 0 ? 0 : next > this.max - 1 ? this.max - 1 : next;
    return this.current;
  }

  get score(): number {
    return this.current;
  }

  /** timeout × (score + 1): the probe interval a node with this health should use. */
  scaleTimeout(timeoutMs: number): number {
    return timeoutMs * (this.current + 1);
  }
}
