// Health of every pool this node has backends for: one checker per pool (a backend listed in two
// pools is checked for each), with the pool's own check and passive settings, so a pool's healthy
// count is its own and a reload can add or drop a pool without touching the others.

import { DEFAULT_POOL, type HealthConfig, type PoolConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import type { TimingWheel } from "../timer/wheel.ts";
import { type BackendHealth, type HealthChange, HealthChecker, type Prober } from "./checker.ts";

export interface PoolHealthOptions {
  wheel?: TimingWheel;
  prober?: Prober;
  logger: Logger;
}

export interface PoolChange extends HealthChange {
  pool: string;
}

export class PoolHealth {
  private checkers = new Map<string, HealthChecker>();
  /** Each pool's settings ([health] with its own keys on top). */
  private configs = new Map<string, HealthConfig>();
  private readonly listeners: ((c: PoolChange) => void)[] = [];
  private running = false;
  private transitionsOfRemoved = 0;

  constructor(
    pools: readonly PoolConfig[],
    private readonly o: PoolHealthOptions,
  ) {
    for (const p of pools) this.add(p);
  }

  private add(p: PoolConfig): HealthChecker {
    this.configs.set(p.name, p.health);
    const c = new HealthChecker(p.backends, p.health, { wheel: this.o.wheel, prober: this.o.prober, logger: this.o.logger.child(p.name), pool: p.name });
    c.onChange((change) => {
      const pc: PoolChange = { ...change, pool: p.name };
      for (const fn of this.listeners) fn(pc);
    });
    this.checkers.set(p.name, c);
    return c;
  }

  onChange(fn: (c: PoolChange) => void): void {
    this.listeners.push(fn);
  }

  /** First check of every backend of every pool; resolves once all have an answer. */
  async start(): Promise<void> {
    this.running = true;
    await Promise.all([...this.checkers.values()].map((c) => c.start()));
  }

  stop(): void {
    this.running = false;
    for (const c of this.checkers.values()) c.stop();
  }

  /** A reloaded pool list: pools that stay keep their backends' state; new pools are checked before use. */
  async update(pools: readonly PoolConfig[]): Promise<{ added: string[]; removed: string[] }> {
    const keep = new Set(pools.map((p) => p.name));
    const added: string[] = [];
    const removed: string[] = [];
    for (const [name, c] of this.checkers) {
      if (keep.has(name)) continue;
      c.stop();
      this.transitionsOfRemoved += c.transitions;
      removed.push(...c.backends().map((b) => `${name}/${b.address}`));
      this.checkers.delete(name);
      this.configs.delete(name);
    }
    const next = new Map<string, HealthChecker>();
    const starting: Promise<unknown>[] = [];
    for (const p of pools) {
      const old = this.checkers.get(p.name);
      if (old) {
        this.configs.set(p.name, p.health);
        const pending = old.update(p.backends, p.health).then((r) => {
          added.push(...r.added.map((a) => `${p.name}/${a}`));
          removed.push(...r.removed.map((a) => `${p.name}/${a}`));
        });
        starting.push(pending);
        next.set(p.name, old);
      } else {
        const c = this.add(p);
        next.set(p.name, c);
        added.push(...p.backends.map((b) => `${p.name}/${b.address}`));
        if (this.running) starting.push(c.start());
      }
    }
    this.checkers = next;
    await Promise.all(starting);
    return { added, removed };
  }

  /** Pool names in configuration order (the default pool first when there is one). */
  names(): string[] {
    return [...this.checkers.keys()];
  }

  healthyCount(pool: string): number {
    return this.checkers.get(pool)?.healthyCount ?? 0;
  }

  /** A pool's healthy backends' weights summed: this node's weight for the pool (draining backends add 0). */
  healthyWeight(pool: string): number {
    return this.checkers.get(pool)?.healthyWeight ?? 0;
  }

  /** A pool's check and passive settings; undefined for a pool only routes name (nothing to check here). */
  config(pool: string): HealthConfig | undefined {
    return this.configs.get(pool);
  }

  /** Healthy backends over all pools. */
  get healthyTotal(): number {
    let n = 0;
    for (const c of this.checkers.values()) n += c.healthyCount;
    return n;
  }

  get transitions(): number {
    let n = this.transitionsOfRemoved;
    for (const c of this.checkers.values()) n += c.transitions;
    return n;
  }

  /** One pool's backends (empty for a pool this node has none of). */
  pool(name: string): readonly Readonly<BackendHealth>[] {
    return this.checkers.get(name)?.backends() ?? [];
  }

  /** Every backend of every pool, each naming its pool. */
  backends(): readonly Readonly<BackendHealth>[] {
    return [...this.checkers.values()].flatMap((c) => c.backends());
  }

  /** Passive: the proxy could not open a socket to this backend of this pool. */
  reportConnectFailure(pool: string, address: string, error: string): void {
    this.checkers.get(pool)?.reportConnectFailure(address, error);
  }

  /** Passive outlier evidence: `count` failed requests to this backend of this pool. */
  reportFailure(pool: string, address: string, count = 1): void {
    this.checkers.get(pool)?.reportFailure(address, count);
  }

  /** Healthy weights of the named pools, for gossip (the default pool travels on its own). */
  namedCounts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, c] of this.checkers) if (name !== DEFAULT_POOL) out.set(name, c.healthyWeight);
    return out;
  }

}
