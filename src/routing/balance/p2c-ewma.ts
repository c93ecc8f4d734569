// p2c_ewma: power of two random choices by peak-EWMA latency × (in flight + 1) / weight (Finagle's and
// Linkerd's "peak EWMA"). Two random candidates, the cheaper wins: one slow backend soon costs more than
// a busy fast one, without every process herding onto the same "best" backend.

import type { LocalBackend } from "../snapshot.ts";
import type { Balancer, Candidate } from "./policy.ts";

export class P2cEwma implements Balancer {
  constructor(private readonly candidates: readonly Candidate[]) {}

  pick(exclude: ReadonlySet<number> | undefined): LocalBackend | undefined {
    let list = this.candidates;
    if (exclude !== undefined) list = list.filter((c) => !exclude.has(c.backend.index));
    const n = list.length;
    if (n === 0) return undefined;
    if (n === 1) return list[0]!.backend;
    const i = Math.floor(Math.random() * n);
    let j = Math.floor(Math.random() * (n - 1));
    if (j >= i) j++;
    const now = performance.now();
    const a = list[i]!;
    const b = list[j]!;
    return cost(a, now) <= cost(b, now) ? a.backend : b.backend;
  }
}

function cost(c: Candidate, now: number): number {
  // A backend without a sample yet costs its queue alone, so a new one gets tried.
  return (c.load.latency(now) + 1) * (c.load.inFlight + 1) / c.backend.weight;
}
