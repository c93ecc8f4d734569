// Broadcast queue with a retransmit limit (memberlist's TransmitLimitedQueue).
// Each message is sent RetransmitMult × ceil(log10(N+1)) times, least-transmitted first
// (then larger first, then newer first), and a newer fact about a node replaces the queued one.

/** A message to gossip. `name` (usually a node name) makes it replace earlier messages with the same name. */
export interface Broadcast {
  readonly name?: string;
  readonly message: Uint8Array;
  /** Called once when the broadcast is dropped: fully transmitted, replaced, pruned or reset. */
  finished?(): void;
}

interface Entry {
  transmits: number;
  id: number;
  b: Broadcast;
}

export function retransmitLimit(retransmitMult: number, n: number): number {
  return retransmitMult * Math.ceil(Math.log10(n + 1));
}

// fewest transmits, then longest message, then newest
function order(a: Entry, b: Entry): number {
  return a.transmits - b.transmits || b.b.message.length - a.b.message.length || b.id - a.id;
}

export class TransmitLimitedQueue {
  private entries: Entry[] = [];
  private readonly byName = new Map<string, Entry>();
  private idGen = 0;

  constructor(
    private readonly numNodes: () => number,
    private readonly retransmitMult: number,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  /** Queues a broadcast; a queued one with the same name is finished and replaced. */
  queue(b: Broadcast, initialTransmits = 0): void {
    if (b.name !== undefined) {
      const old = this.byName.get(b.name);
      if (old) {
        this.remove(old);
        old.b.finished?.();
      }
    }
    const e: Entry = { transmits: initialTransmits, id: ++this.idGen, b };
    this.entries.push(e);
    if (b.name !== undefined) this.byName.set(b.name, e);
  }

  /**
   * Takes messages to piggyback: each costs `overhead` + its length, the total stays ≤ `limit`.
   * Taken messages count one transmission; those that reach the limit are finished and removed.
   */
  getBroadcasts(overhead: number, limit: number): Uint8Array[] {
    if (this.entries.length === 0) return [];
    const transmitLimit = retransmitLimit(this.retransmitMult, this.numNodes());
    this.entries.sort(order);
    const out: Uint8Array[] = [];
    const done: Entry[] = [];
    let used = 0;
    for (const e of this.entries) {
      const free = limit - used - overhead;
      if (free <= 0) break;
      if (e.b.message.length > free) continue;
      used += overhead + e.b.message.length;
      out.push(e.b.message);
      e.transmits++;
      if (e.transmits >= transmitLimit) done.push(e);
    }
    if (done.length > 0) {
      const gone = new Set(done);
      this.entries = this.entries.filter((e) => !gone.has(e));
      for (const e of done) {
        if (e.b.name !== undefined && this.byName.get(e.b.name) === e) this.byName.delete(e.b.name);
        e.b.finished?.();
      }
    }
    if (this.entries.length === 0) this.idGen = 0;
    return out;
  }

  /** Drops the oldest-transmitted entries until at most `maxRetain` remain. */
  prune(maxRetain: number): void {
    if (this.entries.length <= maxRetain) return;
    this.entries.sort(order);
    const dropped = this.entries.splice(maxRetain);
    for (const e of dropped) {
      if (e.b.name !== undefined && this.byName.get(e.b.name) === e) this.byName.delete(e.b.name);
      e.b.finished?.();
    }
  }

  /** Finishes and drops everything. */
  reset(): void {
    const all = this.entries;
    this.entries = [];
    this.byName.clear();
    this.idGen = 0;
    for (const e of all) e.b.finished?.();
  }

  private remove(e: Entry): void {
    const i = this.entries.indexOf(e);
    if (i >= 0) this.entries.splice(i, 1);
    if (e.b.name !== undefined && this.byName.get(e.b.name) === e) this.byName.delete(e.b.name);
  }
}
