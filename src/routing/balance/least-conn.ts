// least_conn: the fewest requests in flight relative to weight; ties go round-robin (a rotating start,
// the first of the equals from there wins), so an idle pool still spreads its requests.

import type { LocalBackend } from "../snapshot.ts";
import type { Balancer, Candidate } from "./policy.ts";

export class LeastConn implements Balancer {
  private rr = 0;

  constructor(private readonly candidates: readonly Candidate[]) {}

  pick(exclude: ReadonlySet<number> | undefined): LocalBackend | undefined {
    const list = this.candidates;
    const n = list.length;
    if (n === 0) return undefined;
    const start = this.rr++ % n;
    if (this.rr >= 0x3fffffff) this.rr = 0;
    let best: Candidate | undefined;
    let bestCost = Infinity;
    for (let k = 0; k < n; k++) {
      const c = list[(start + k) % n]!;
      if (exclude !== undefined && exclude.has(c.backend.index)) continue;
      const cost = c.load.inFlight / c.backend.weight;
      if (cost < bestCost) {
        best = c;
        bestCost = cost;
      }
    }
    return best?.backend;
  }
}
