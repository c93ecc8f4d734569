// One request's walk through the two tiers of its pool: a node by its weight for the pool (or only
// this node for a member's request), then a backend of the pool on it; targets that failed are
// excluded from the next pick.
// The current pick lives in fields, so a request allocates one object whatever its retries.

import type { BackendLoad } from "../routing/balance/load.ts";
import type { PoolRouter } from "../routing/router.ts";
import type { UpstreamTarget } from "./upstream/client.ts";

const NO_TARGET: UpstreamTarget = { host: "", port: 0 };

export class Selection {
  /** "http://host:port" of the current pick. */
  origin = "";
  /** Metrics/log name: the backend address, or "node:<name>". */
  name = "";
  /** Index of the local backend picked, or -1 for a peer. */
  backendIndex = -1;
  /** Name of the peer node picked, or undefined for a local backend. */
  peerName: string | undefined = undefined;
  /** host/port of the current pick (the snapshot object itself: no allocation). */
  target: UpstreamTarget = NO_TARGET;
  private triedBackends: Set<number> | undefined;
  private triedNodes: Set<string> | undefined;
  /** The current local pick's load while it is counted in flight (least_conn, p2c_ewma). */
  private load: BackendLoad | undefined = undefined;

  constructor(
    /** The request's pool; undefined when no node is known to serve it (nothing to pick). */
    private readonly pool: PoolRouter | undefined,
    private readonly selfName: string,
    /** A member's request: local backends only, never another hop. */
    private readonly localOnly: boolean,
    /** The request's hash key (balance = "hash"), the same for the node and the backend choice. */
    private readonly key?: number,
  ) {}

  /** Picks the next target; false when no node can serve any more. */
  next(): boolean {
    const pool = this.pool;
    if (pool === undefined) return false;
    for (;;) {
      const node = this.localOnly ? null : pool.pickNode(this.triedNodes, this.key);
      if (node === undefined) return false;
      if (node === null) {
        const b = pool.pickBackend(this.triedBackends, this.key);
        if (!b) {
          if (this.localOnly) return false;
          // Every local backend failed this request: this node is out of the running.
          (this.triedNodes ??= new Set()).add(this.selfName);
          continue;
        }
        this.origin = b.origin;
        this.name = b.address;
        this.backendIndex = b.index;
        this.peerName = undefined;
        this.target = b;
        return true;
      }
      this.origin = node.origin;
      this.name = `node:${node.name}`;
      this.backendIndex = -1;
      this.peerName = node.name;
      this.target = node;
      return true;
    }
  }

  /** The pool's name ("" when the request's pool is unknown here). */
  get poolName(): string {
    return this.pool?.name ?? "";
  }

  /** The current pick is being sent: a local backend counts it in flight when the policy needs that. */
  begin(): void {
    const pool = this.pool;
    if (this.backendIndex >= 0 && pool !== undefined && pool.tracksLoad) {
      const l = pool.loadOf(this.backendIndex);
      if (l !== undefined) l.inFlight++;
      this.load = l;
    }
  }

  /** The current attempt failed after `ms` (performance.now() is `now`): sampled, and no longer in flight. */
  settle(ms: number, now: number): void {
    this.observe(ms, now);
    this.release();
  }

  /**
   * The current attempt's response headers came after `ms`: the latency sample is time to first byte
   * (Finagle's peak EWMA), whatever the body takes. The attempt stays in flight until release().
   */
  observe(ms: number, now: number): void {
    this.load?.observe(ms, now);
  }

  /**
   * The current attempt's exchange is over (its body ended, or it failed): it is no longer in flight.
   * Only the first call after begin() counts, so every way a body can end may call it.
   */
  release(): void {
    const l = this.load;
    if (l === undefined) return;
    this.load = undefined;
    l.inFlight--;
  }

  /** The current pick failed: never pick it again for this request. */
  exclude(): void {
    if (this.peerName === undefined) (this.triedBackends ??= new Set()).add(this.backendIndex);
    else (this.triedNodes ??= new Set()).add(this.peerName);
  }
}
