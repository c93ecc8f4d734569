// Healing after a partition. memberlist never contacts a node again once it declared it dead, and the
// joiner retries its seeds only while the node is alone; so two halves of a split cluster that both
// keep more than one node would stay apart for ever. Like Serf's reconnect, we remember members that
// failed (not those that left) and try a push/pull with one of them every push/pull round, until it
// answers or the reconnect timeout passes. Kept apart from the member table, whose dead entries are
// reaped after gossipToTheDead.

import type { Endpoint } from "./transport.ts";

export interface FailedMember {
  name: string;
  endpoint: Endpoint;
  /** Clock time it was declared dead. */
  since: number;
}

export class FailedMembers {
  private readonly byName = new Map<string, FailedMember>();

  constructor(
    /** Forget a failed member after this long (0: never remember any). */
    private readonly timeoutMs: number,
    private readonly now: () => number,
    private readonly random: () => number = Math.random,
  ) {}

  get size(): number {
    return this.byName.size;
  }

  /** Declared dead (by us or by gossip): worth trying again later. */
  failed(name: string, endpoint: Endpoint): void {
    if (this.timeoutMs <= 0) return;
    this.byName.set(name, { name, endpoint: { ...endpoint }, since: this.now() });
  }

  /** Alive again, or left for good: nothing to reconnect to. */
  recovered(name: string): void {
    this.byName.delete(name);
  }

  /** A random failed member still within the reconnect timeout (expired ones are forgotten). */
  pick(): FailedMember | undefined {
    const now = this.now();
    for (const [name, m] of this.byName) if (now - m.since > this.timeoutMs) this.byName.delete(name);
    if (this.byName.size === 0) return undefined;
    let i = Math.floor(this.random() * this.byName.size);
    for (const m of this.byName.values()) if (i-- === 0) return m;
    return undefined;
  }
}
