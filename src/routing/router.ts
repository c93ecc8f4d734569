// The data plane's view of a routing snapshot: derived lookup structures, built once per snapshot,
// and the two selection steps (node by weight, then backend round-robin).

import type { LocalBackend, PeerNode, RoutingSnapshot } from "./snapshot.ts";

/** A node choice: null = this node (serve from local backends), else a peer. */
export type NodeChoice = PeerNode | null;

export class Router {
  private snap: RoutingSnapshot;
  private healthy: LocalBackend[] = [];
  private rr = 0;
  private memberAddrs = new Set<string>();
  private viaTokens: string[] = [];
  // Smooth weighted round-robin state: candidates[0] is self (null), then peers.
  private candidates: NodeChoice[] = [];
  private weights: number[] = [];
  private current: number[] = [];
  private totalWeight = 0;

  constructor(snapshot: RoutingSnapshot) {
    this.snap = snapshot;
    this.install(snapshot);
  }

  get snapshot(): RoutingSnapshot {
    return this.snap;
  }

  install(s: RoutingSnapshot): void {
    const prevCurrent = new Map<string, number>();
    this.candidates.forEach((c, i) => prevCurrent.set(c ? c.name : "", this.current[i] ?? 0));
    this.snap = s;
    this.healthy = s.backends.filter((b) => b.healthy);
    this.memberAddrs = new Set(s.memberAddresses);
    this.viaTokens = s.memberNames.filter((n) => n !== s.nodeName);
    this.candidates = [null];
    this.weights = [this.healthy.length];
    for (const p of s.peers) {
      if (p.weight > 0 && p.name !== s.nodeName) {
        this.candidates.push(p);
        this.weights.push(p.weight);
      }
    }
    // Keep each node's accumulated credit across snapshots so a change does not restart the cycle.
    this.current = this.candidates.map((c) => prevCurrent.get(c ? c.name : "") ?? 0);
    this.totalWeight = this.weights.reduce((a, b) => a + b, 0);
  }

  get healthyCount(): number {
    return this.healthy.length;
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
    if (n === 1) return this.weights[0]! > 0 && !excludeNames?.has(this.snap.nodeName) ? null : undefined;
    let best = -1;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const w = this.weights[i]!;
      if (w <= 0) continue;
      const c = this.candidates[i]!;
      if (excludeNames?.has(c ? c.name : this.snap.nodeName)) continue;
      this.current[i]! += w;
      total += w;
      if (best < 0 || this.current[i]! > this.current[best]!) best = i;
    }
    if (best < 0) return undefined;
    this.current[best]! -= total;
    return this.candidates[best]!;
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

/** Whether a Via header value contains the hop `1.1 <name>` (as the proxy writes it). */
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
