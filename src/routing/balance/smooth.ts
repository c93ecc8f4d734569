// Smooth weighted round-robin (nginx): each candidate gains its weight, the richest is chosen and pays
// the total. Interleaves (2:1:3 never gives long runs) and matches the weights exactly over a cycle.
// Used between cluster nodes and, as the round_robin policy, between a node's backends.

export class SmoothWeighted<T> {
  private readonly current: number[];

  /**
   * `keys` name the candidates (for carrying credit over from `prev`), `weights` are > 0. A snapshot
   * change keeps each candidate's credit so the cycle does not restart.
   */
  constructor(
    readonly items: readonly T[],
    private readonly weights: readonly number[],
    readonly keys: readonly string[],
    prev?: SmoothWeighted<T>,
  ) {
    const credit = new Map<string, number>();
    if (prev) prev.keys.forEach((k, i) => credit.set(k, prev.current[i] ?? 0));
    this.current = keys.map((k) => credit.get(k) ?? 0);
  }

  get size(): number {
    return this.items.length;
  }

  /** The next item, skipping those `skip(i)` refuses; undefined when all are refused (or none has weight). */
  next(skip?: (item: T, i: number) => boolean): T | undefined {
    const n = this.items.length;
    let best = -1;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const w = this.weights[i]!;
      if (w <= 0 || (skip !== undefined && skip(this.items[i]!, i))) continue;
      this.current[i]! += w;
      total += w;
      if (best < 0 || this.current[i]! > this.current[best]!) best = i;
    }
    if (best < 0) return undefined;
    this.current[best]! -= total;
    return this.items[best]!;
  }
}
