// round_robin: smooth weighted round-robin over the candidates (weight 1 each = plain rotation).

import type { LocalBackend } from "../snapshot.ts";
import type { Balancer, Candidate } from "./policy.ts";
import { SmoothWeighted } from "./smooth.ts";

export class RoundRobin implements Balancer {
  readonly wrr: SmoothWeighted<LocalBackend>;

  constructor(candidates: readonly Candidate[], prev?: RoundRobin) {
    this.wrr = new SmoothWeighted(
      candidates.map((c) => c.backend),
      candidates.map((c) => c.backend.weight),
      candidates.map((c) => c.backend.address),
      prev?.wrr,
    );
  }

  pick(exclude: ReadonlySet<number> | undefined): LocalBackend | undefined {
    return exclude === undefined ? this.wrr.next() : this.wrr.next((b) => exclude.has(b.index));
  }
}
