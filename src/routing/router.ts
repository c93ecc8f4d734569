// The data plane's view of a routing snapshot: derived lookup structures, built once per snapshot —
// the route table, and per pool the two selection steps (node by weight, then backend round-robin).

import { RouteTable, type Route } from "./routes.ts";
import type { LocalBackend, PeerNode, PoolSnapshot, RoutingSnapshot } from "./snapshot.ts";

/** A node choice: null = this node (serve from local backends), else a peer. */
export type NodeChoice = PeerNode | null;

/** One pool's selection state: round-robin over its healthy local backends, smooth WRR over nodes. */
export class PoolRouter {
  readonly name: string;
  private readonly healthy: LocalBackend[];
  private rr = 0;
  // Smooth weighted round-robin state: candidates[0] is self (null), then peers.
  private readonly candidates: NodeChoice[] = [null];
  private readonly weights: number[];
  private readonly current: number[];

  constructor(
    p: PoolSnapshot,
    peers: readonly PeerNode[],
    private readonly selfName: string,
    /** Credit each node had in this pool under the previous snapshot, by node name ("" = self). */
    credit: ReadonlyMap<string, number> | undefined,
  ) {
    this.name = p.name;
    this.healthy = p.backends.filter((b) => b.healthy);
    this.weights = [this.healthy.length];
    for (const w of p.peers) {
      const node = peers[w.peer];
      if (node && w.weight > 0 && node.name !== selfName) {
        this.candidates.push(node);
        this.weights.push(w.weight);
      }
    }
    // Keep each node's accumulated credit across snapshots so a change does not restart the cycle.
    this.current = this.candidates.map((c) => credit?.get(c ? c.name : "") ?? 0);
  }

  /** Credit by node name, for the next snapshot's PoolRouter. */
  credits(): Map<string, number> {
    return new Map(this.candidates.map((c, i) => [c ? c.name : "", this.current[i] ?? 0]));
  }

  get healthyCount(): number {
    return this.healthy.length;
  }

  /** Weight of a node in this pool (its published healthy count; ours for self), 0 if it has none. */
  weightOf(nodeName: string): number {
    if (nodeName === this.selfName) return this.weights[0]!;
    const i = this.candidates.findIndex((c) => c !== null && c.name === nodeName);
    return i < 0 ? 0 : this.weights[i]!;
  }

  /** Round-robin over healthy local backends, skipping `exclude` (already tried). */
  pickBackend(exclude?: ReadonlySet<number>): LocalBackend | undefined {
    const list = this.healthy;
    const n = list.length;
    if (n === 0) return undefined;
    for (let i = 0; i < n; i++) {
      const b = list[this.rr++ % n]!;
      if (this.rr >= 0x3fffffff) this.rr = 0;
      if (!exclude || !exclude.has(b.index)) return b;
    }
    return undefined;
  }

  /**
   * Smooth weighted round-robin (nginx): each candidate gains its weight, the richest is chosen
   * and pays the total. Interleaves (2:1:3 never gives long runs) and matches weights over a cycle.
   * Returns undefined when no node has a healthy backend; `excludeNames` skips nodes already tried.
   */
  pickNode(excludeNames?: ReadonlySet<string>): NodeChoice | undefined {
    const n = this.candidates.length;
    if (n === 1) return this.weights[0]! > 0 && !excludeNames?.has(this.selfName) ? null : undefined;
    let best = -1;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const w = this.weights[i]!;
      if (w <= 0) continue;
      const c = this.candidates[i]!;
      if (excludeNames?.has(c ? c.name : this.selfName)) continue;
      this.current[i]! += w;
      total += w;
      if (best < 0 || this.current[i]! > this.current[best]!) best = i;
    }
    if (best < 0) return undefined;
    this.current[best]! -= total;
    return this.candidates[best]!;
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
    this.pools = new Map(s.pools.map((p) => [p.name, new PoolRouter(p, s.peers, s.nodeName, prev.get(p.name)?.credits())]));
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
