// The data plane's view of a routing snapshot: derived lookup structures, built once per snapshot —
// the route table, and per pool the two selection steps (a node by weight, then a backend by the
// pool's balancing policy).

import { BackendLoad, type Balancer, type Candidate, createBalancer } from "./balance/index.ts";
import type { HashKeySpec } from "./balance/key.ts";
import { hashString, rendezvous } from "./balance/rendezvous.ts";
import { SmoothWeighted } from "./balance/smooth.ts";
import { RouteTable, type Route } from "./routes.ts";
import type { LocalBackend, PeerNode, PoolSnapshot, RoutingSnapshot } from "./snapshot.ts";

/** A node choice: null = this node (serve from local backends), else a peer. */
export type NodeChoice = PeerNode | null;

/**
 * One pool's selection state: its balancer over the healthy local backends (by the pool's policy) and
 * the node choice — smooth WRR over the nodes' healthy weights, or for a hashed request weighted
 * rendezvous on its key, which every entry node computes alike.
 */
export class PoolRouter {
  readonly name: string;
  private readonly balancer: Balancer;
  /** Load per backend address, kept across snapshots (least_conn, p2c_ewma). */
  private readonly loads: Map<string, BackendLoad>;
  private readonly loadByIndex: BackendLoad[] = [];
  private readonly healthy: number;
  /** The policy counts requests in flight and their latency (Selection tells it). */
  readonly tracksLoad: boolean;
  /** With balance = "hash": what requests are hashed on. */
  readonly hashKey: HashKeySpec | null;
  // Node choice: index 0 is self (null), then peers; names, ids (for rendezvous) and weights parallel.
  private readonly nodes: SmoothWeighted<NodeChoice>;
  private readonly names: string[];
  private readonly ids: number[];
  private readonly weights: number[];

  constructor(
    p: PoolSnapshot,
    peers: readonly PeerNode[],
    private readonly selfName: string,
    /** The pool's router under the previous snapshot: its node credit and backend loads carry over. */
    prev: PoolRouter | undefined,
  ) {
    this.name = p.name;
    this.hashKey = p.hashKey;
    this.loads = new Map();
    const candidates: Candidate[] = [];
    let weight = 0;
    for (const b of p.backends) {
      const load = prev?.loads.get(b.address) ?? new BackendLoad();
      this.loads.set(b.address, load);
      this.loadByIndex[b.index] = load;
      if (b.healthy && b.weight > 0) {
        candidates.push({ backend: b, load });
        weight += b.weight;
      }
    }
    this.healthy = candidates.length;
    this.balancer = createBalancer(p.balance, candidates, prev?.balancer);
    this.tracksLoad = p.balance === "least_conn" || p.balance === "p2c_ewma";
    const items: NodeChoice[] = [null];
    this.names = [selfName];
    this.weights = [weight];
    for (const w of p.peers) {
      const node = peers[w.peer];
      if (node && w.weight > 0 && node.name !== selfName) {
        items.push(node);
        this.names.push(node.name);
        this.weights.push(w.weight);
      }
    }
    this.ids = this.names.map(hashString);
    // Each node keeps its accumulated credit across snapshots so a change does not restart the cycle.
    this.nodes = new SmoothWeighted(items, this.weights, this.names, prev?.nodes);
  }

  /** Local backends that may get new requests. */
  get healthyCount(): number {
    return this.healthy;
  }

  /** Weight of a node in this pool (its published healthy weight; ours for self), 0 if it has none. */
  weightOf(nodeName: string): number {
    const i = this.names.indexOf(nodeName);
    return i < 0 ? 0 : this.weights[i]!;
  }

  /** The backend for a new attempt by the pool's policy, skipping `exclude` (already tried); `key` for hash. */
  pickBackend(exclude?: ReadonlySet<number>, key?: number): LocalBackend | undefined {
    return this.balancer.pick(exclude, key);
  }

  /** Load object of one of the pool's local backends (by its index). */
  loadOf(index: number): BackendLoad | undefined {
    return this.loadByIndex[index];
  }

  /**
   * The node for a request; undefined when no node has a healthy backend for the pool. `excludeNames`
   * skips nodes already tried; with `key` the choice is rendezvous-hashed instead of round-robin.
   */
  pickNode(excludeNames?: ReadonlySet<string>, key?: number): NodeChoice | undefined {
    const n = this.names.length;
    if (n === 1) return this.weights[0]! > 0 && !excludeNames?.has(this.selfName) ? null : undefined;
    const names = this.names;
    if (key !== undefined) {
      const i = rendezvous(key, this.ids, this.weights, excludeNames === undefined ? undefined : (k) => excludeNames.has(names[k]!));
      return i < 0 ? undefined : this.nodes.items[i];
    }
    if (excludeNames === undefined) return this.nodes.next();
    return this.nodes.next((_c, i) => excludeNames.has(names[i]!));
  }
}

export class Router {
  private snap: RoutingSnapshot;
  private pools = new Map<string, PoolRouter>();
  private routes = new RouteTable([], undefined);
  private memberAddrs = new Set<string>();
  private viaTokens: string[] = [];

  constructor(snapshot: RoutingSnapshot) {
    this.snap = snapshot;
    this.install(snapshot);
  }

  get snapshot(): RoutingSnapshot {
    return this.snap;
  }

  install(s: RoutingSnapshot): void {
    const prev = this.pools;
    this.snap = s;
    this.pools = new Map(s.pools.map((p) => [p.name, new PoolRouter(p, s.peers, s.nodeName, prev.get(p.name))]));
    this.routes = new RouteTable(s.routes, s.fallbackPool);
    this.memberAddrs = new Set(s.memberAddresses);
    this.viaTokens = s.memberNames.filter((n) => n !== s.nodeName);
  }

  /** The route for a request (Host as sent, path and query); undefined = no route and no default pool. */
  match(host: string | null, path: string): Route | undefined {
    return this.routes.match(host, path);
  }

  /** Routes in match order, the fallback last. */
  routeOrder(): Route[] {
    return this.routes.ordered();
  }

  /** A pool's selection state; undefined when this node knows no such pool (nobody serves it). */
  pool(name: string): PoolRouter | undefined {
    return this.pools.get(name);
  }

  /** True when the source IP is a member's address: only then are its forwarding headers trusted. */
  isMemberAddress(sourceIp: string | undefined): boolean {
    return sourceIp !== undefined && this.memberAddrs.has(sourceIp);
  }

  /**
   * True when the request comes from a cluster member (by source IP or by a member's Via token): serve
   * it locally, never forward it again. A client can forge the Via, so this alone grants no trust.
   */
  isFromMember(sourceIp: string | undefined, via: string | null): boolean {
    if (sourceIp !== undefined && this.memberAddrs.has(sourceIp)) return true;
    if (via !== null && this.viaTokens.length > 0) {
      for (const name of this.viaTokens) if (viaNames(via, name)) return true;
    }
    return false;
  }
}

/** Whether a Via header value contains the hop `<version> <name>` ("1.1", "2" or "3", as the proxy writes it). */
export function viaNames(via: string, name: string): boolean {
  let from = 0;
  for (;;) {
    const i = via.indexOf(name, from);
    if (i < 0) return false;
    const before = i === 0 ? " " : via[i - 1]!;
    const after = i + name.length >= via.length ? "," : via[i + name.length]!;
    if (before === " " && (after === "," || after === " ")) return true;
    from = i + 1;
  }
}
