// The routing snapshot: everything the data plane needs to decide, as plain data (so another
// process can receive it over IPC). The control plane builds a new one on every change and
// swaps it in whole; the request path never waits on anything to decide.

import type { RouteConfig } from "../config/schema.ts";
import type { HashKeySpec } from "./balance/key.ts";
import type { BalancePolicy } from "./balance/policy.ts";

export interface LocalBackend {
  /** Index in its pool's configured backend list (stable; keys health and metrics). */
  index: number;
  address: string;
  host: string;
  port: number;
  /** "http://host:port", precomputed so the request path only concatenates the path. */
  origin: string;
  /** Up by its checks and not ejected by passive outlier detection: may get new requests (if weight > 0). */
  healthy: boolean;
  /** Share of new requests relative to the pool's others; 0 = draining (no new requests, in-flight ones finish). */
  weight: number;
}

export interface PeerNode {
  name: string;
  address: string;
  /** Same as address; with `port` this is the upstream target for the pooled client. */
  host: string;
  port: number;
  proxyPort: number;
  origin: string;
}

/** A peer's weight for one pool: the healthy backend weight it publishes for it (only peers above 0 are listed). */
export interface PoolPeer {
  /** Index into RoutingSnapshot.peers. */
  peer: number;
  weight: number;
}

/** One pool as this node sees it: its own backends, and the peers that have healthy ones. */
export interface PoolSnapshot {
  name: string;
  /** This node's backends for the pool (none when only other nodes serve it). */
  backends: LocalBackend[];
  peers: PoolPeer[];
  /** How this node picks among the pool's backends (round_robin for a pool it does not declare). */
  balance: BalancePolicy;
  /** With balance = "hash": what a request is hashed on, for the node choice and the backend choice alike. */
  hashKey: HashKeySpec | null;
  /** hash_key as written, for /status. */
  hashKeyText: string | null;
}

export interface RoutingSnapshot {
  version: number;
  nodeName: string;
  /** Every pool this node knows by name: its own, and those its routes name. */
  pools: PoolSnapshot[];
  /** Normalised, tie-free routes (config order; the route table orders them by specificity). */
  routes: RouteConfig[];
  /** Pool for requests no route matches (this node's "default"), or undefined: they get 404. */
  fallbackPool: string | undefined;
  /** Alive peers with usable metadata (suspect/dead peers are left out: they get no new traffic). */
  peers: PeerNode[];
  /** Source addresses of known members (alive, suspect, recently dead): their requests are served locally only. */
  memberAddresses: string[];
  /** Names of all known members, to recognise our own hops in `Via`. */
  memberNames: string[];
  /** Addresses of the members that are alive now (whatever their weight). */
  aliveAddresses: string[];
}

export function emptySnapshot(nodeName: string): RoutingSnapshot {
  return { version: 0, nodeName, pools: [], routes: [], fallbackPool: undefined, peers: [], memberAddresses: [], memberNames: [], aliveAddresses: [] };
}
