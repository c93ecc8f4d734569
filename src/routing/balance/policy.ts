// The balancing policies' common shape. A balancer is built per snapshot over the backends that may get
// new requests (healthy, not ejected, weight > 0) and picks one, skipping those a request already tried.

import type { LocalBackend } from "../snapshot.ts";
import type { BackendLoad } from "./load.ts";

export type BalancePolicy = "round_robin" | "least_conn" | "p2c_ewma" | "hash";
export const BALANCE_POLICIES: readonly BalancePolicy[] = ["round_robin", "least_conn", "p2c_ewma", "hash"];

export interface Balancer {
  /**
   * The backend for a new attempt, or undefined when every candidate is excluded. `key` is the request's
   * hash (hash policy only; undefined = the request has no key, which falls back to round-robin).
   */
  pick(exclude: ReadonlySet<number> | undefined, key: number | undefined): LocalBackend | undefined;
}

/** A candidate with its load object (shared with the router, which keeps it across snapshots). */
export interface Candidate {
  backend: LocalBackend;
  load: BackendLoad;
}
