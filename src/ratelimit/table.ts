// Every bucket this process tracks, at most `maxKeys` of them: found by (limit, key value) on the
// request path and by their 48-bit hash when usage arrives from elsewhere. The least recently used
// bucket is forgotten first (an intrusive list: touching one moves three pointers, no allocation).

import { bucketHash } from "./key.ts";
import type { Limit } from "./limit.ts";
import type { BucketState } from "./bucket.ts";

/** What this process last heard from one origin about one bucket (see gossip.ts). */
export interface OriginSlot {
  origin: number;
  epoch: number;
  cum: number;
}

export class Entry implements BucketState {
  tokens: number;
  at: number;
  prev: Entry | null = null;
  next: Entry | null = null;
  /** The key value, once a request of this process named it (usage from elsewhere carries only the hash). */
  key: string | null = null;
  /** Requests admitted here and not yet handed on (to gossip, or from a worker to the primary). */
  fresh = 0;
  /** Requests admitted by this node in all (what it gossips: a count, so a lost packet loses nothing). */
  cum = 0;
  /** When this process last admitted a request here (gossip says how long ago, so peers charge it as of then). */
  admittedAt = Number.NEGATIVE_INFINITY;
  /** Gossip sends left for the current `cum`. */
  sendsLeft = 0;
  /** Per origin node, the count it last reported. */
  slots: OriginSlot[] | null = null;
  evicted = false;

  constructor(
    readonly limit: Limit,
    readonly hash: number,
    now: number,
  ) {
    this.tokens = limit.cfg.burst;
    this.at = now;
  }
}

export class UsageTable {
  private readonly byHash = new Map<number, Entry>();
  /** Least recently used first. */
  private head: Entry | null = null;
  private tail: Entry | null = null;
  evictions = 0;

  constructor(readonly maxKeys: number) {}

  get size(): number {
    return this.byHash.size;
  }

  /** The bucket for this request's key value (created when new), now the most recently used. */
  lookup(limit: Limit, key: string, now: number): Entry {
    let e = limit.entries.get(key);
    if (e === undefined) {
      e = this.byHashOrNew(limit, bucketHash(limit.cfg.name, key), now);
      e.key = key;
      limit.entries.set(key, e);
    }
    if (e !== this.tail) this.touch(e);
    return e;
  }

  /** The bucket usage from elsewhere names (created when new), now the most recently used. */
  remote(limit: Limit, hash: number, now: number): Entry {
    const e = this.byHashOrNew(limit, hash, now);
    if (e !== this.tail) this.touch(e);
    return e;
  }

  /** Most recently used first. */
  *recent(): Generator<Entry> {
    for (let e = this.tail; e !== null; e = e.prev) yield e;
  }

  private byHashOrNew(limit: Limit, hash: number, now: number): Entry {
    let e = this.byHash.get(hash);
    if (e === undefined) {
      if (this.byHash.size >= this.maxKeys) this.evict();
      e = new Entry(limit, hash, now);
      this.byHash.set(hash, e);
      this.append(e);
    }
    return e;
  }

  private evict(): void {
    const e = this.head;
    if (e === null) return;
    this.unlink(e);
    this.byHash.delete(e.hash);
    if (e.key !== null) e.limit.entries.delete(e.key);
    // A pending list drops it lazily.
    e.evicted = true;
    this.evictions++;
  }

  private touch(e: Entry): void {
    this.unlink(e);
    this.append(e);
  }

  private append(e: Entry): void {
    e.prev = this.tail;
    e.next = null;
    if (this.tail) this.tail.next = e;
    else this.head = e;
    this.tail = e;
  }

  private unlink(e: Entry): void {
    if (e.prev) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = null;
    e.next = null;
  }
}
