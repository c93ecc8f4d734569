// A balancer for a policy over the candidates of one snapshot.

import { HashBalancer } from "./hash.ts";
import { LeastConn } from "./least-conn.ts";
import { P2cEwma } from "./p2c-ewma.ts";
import type { Balancer, BalancePolicy, Candidate } from "./policy.ts";
import { RoundRobin } from "./round-robin.ts";

export { BackendLoad } from "./load.ts";
export type { Balancer, BalancePolicy, Candidate } from "./policy.ts";
export { BALANCE_POLICIES } from "./policy.ts";

/** `prev` (the previous snapshot's balancer) carries round-robin credit over. */
export function createBalancer(policy: BalancePolicy, candidates: readonly Candidate[], prev?: Balancer): Balancer {
  switch (policy) {
    case "round_robin":
      return new RoundRobin(candidates, prev instanceof RoundRobin ? prev : undefined);
    case "least_conn":
      return new LeastConn(candidates);
    case "p2c_ewma":
      return new P2cEwma(candidates);
    case "hash":
      return new HashBalancer(candidates, prev instanceof HashBalancer ? prev : undefined);
  }
}
