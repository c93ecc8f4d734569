// hash: weighted rendezvous hashing of the request's key over the candidates (see rendezvous.ts); a
// request without a key (no such header or cookie) goes round-robin instead.

import type { LocalBackend } from "../snapshot.ts";
import type { Balancer, Candidate } from "./policy.ts";
import { hashString, rendezvous } from "./rendezvous.ts";
import { RoundRobin } from "./round-robin.ts";

export class HashBalancer implements Balancer {
  private readonly ids: number[];
  private readonly weights: number[];
  private readonly backends: LocalBackend[];
  readonly fallback: RoundRobin;

  constructor(candidates: readonly Candidate[], prev?: HashBalancer) {
    this.backends = candidates.map((c) => c.backend);
    this.ids = candidates.map((c) => hashString(c.backend.address));
    this.weights = candidates.map((c) => c.backend.weight);
    this.fallback = new RoundRobin(candidates, prev?.fallback);
  }

  pick(exclude: ReadonlySet<number> | undefined, key: number | undefined): LocalBackend | undefined {
    if (key === undefined) return this.fallback.pick(exclude);
    const list = this.backends;
    const i = rendezvous(key, this.ids, this.weights, exclude === undefined ? undefined : (k) => exclude.has(list[k]!.index));
    return i < 0 ? undefined : list[i];
  }
}
