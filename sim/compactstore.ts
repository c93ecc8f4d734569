// The simulator's member tables: 10,000 engines each knowing 10,000 members is 10⁸ entries, which as
// objects in Maps (the engine's default store, ~650 B an entry with its decoded strings and byte arrays)
// would take ~65 GB. Here every table is a few typed-array columns indexed by a member id that all tables
// of a world share (MemberRegistry), and what a member announced (address, meta, versions) is kept once
// per distinct announcement, not once per table: 13 bytes an entry. The engine sees entries through
// small views whose fields read and write the columns, so it runs its ordinary rules on them.

import type { Announcement, MemberState, MemberStore, NodeState } from "../src/cluster/index.ts";

const STATES: readonly MemberState[] = ["alive", "suspect", "dead", "left"];
/** Column code of a state: 0 means "no entry". */
const CODE: Readonly<Record<MemberState, number>> = { alive: 1, suspect: 2, dead: 3, left: 4 };

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameAnnouncement(x: Announcement, y: Announcement): boolean {
  if (x.port !== y.port || x.address !== y.address || !bytesEqual(x.addr, y.addr) || !bytesEqual(x.meta, y.meta)) return false;
  for (let i = 0; i < 6; i++) if (x.vsn[i] !== y.vsn[i]) return false;
  return true;
}

/** Member ids and announcements, shared by every table of one world. */
export class MemberRegistry {
  private readonly ids = new Map<string, number>();
  readonly names: string[] = [];
  /** Per member: the distinct announcements seen, in order; an entry refers to one by its index. */
  private readonly announced: Announcement[][] = [];

  get size(): number {
    return this.names.length;
  }

  lookup(name: string): number | undefined {
    return this.ids.get(name);
  }

  id(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(name, id);
      this.names.push(name);
      this.announced.push([]);
    }
    return id;
  }

  /** The index of an announcement equal to `a` for member `id`, adding a copy when it is new. */
  intern(id: number, a: Announcement): number {
    const list = this.announced[id];
    for (let k = 0; k < list.length; k++) if (sameAnnouncement(list[k], a)) return k;
    list.push({ addr: a.addr.slice(), address: a.address, port: a.port, meta: a.meta.slice(), vsn: [a.vsn[0], a.vsn[1], a.vsn[2], a.vsn[3], a.vsn[4], a.vsn[5]] });
    return list.length - 1;
  }

  announcement(id: number, k: number): Announcement {
    return this.announced[id][k];
  }
}

/** One engine's table: columns indexed by member id, plus the probe order. */
export class CompactMemberStore implements MemberStore {
  /** State code per member id (0: no entry). */
  private code: Uint8Array;
  private inc: Uint32Array;
  private changed: Int32Array;
  /** Announcement index per member id when it is not the member's first one (rare). */
  private readonly variant = new Map<number, number>();
  private order: Int32Array;
  private count = 0;

  constructor(readonly registry: MemberRegistry, capacity = registry.size) {
    const n = Math.max(4, capacity);
    this.code = new Uint8Array(n);
    this.inc = new Uint32Array(n);
    this.changed = new Int32Array(n);
    this.order = new Int32Array(n);
  }

  get size(): number {
    return this.count;
  }

  at(i: number): NodeState {
    if (i < 0 || i >= this.count) throw new RangeError(`entry ${i} of ${this.count}`);
    return new Entry(this, this.order[i]);
  }

  get(name: string): NodeState | undefined {
    const id = this.registry.lookup(name);
    if (id === undefined || id >= this.code.length || this.code[id] === 0) return undefined;
    return new Entry(this, id);
  }

  add(name: string, a: Announcement, incarnation: number, state: MemberState, stateChangedAt: number): NodeState {
    const id = this.registry.id(name);
    this.ensure(id);
    if (this.code[id] !== 0) throw new Error(`${name} is already in the table`);
    this.setAnnouncement(id, a);
    this.setState(id, state);
    this.setIncarnation(id, incarnation);
    this.setChanged(id, stateChangedAt);
    this.order[this.count++] = id;
    return new Entry(this, id);
  }

  announce(entry: NodeState, a: Announcement): void {
    const id = this.registry.lookup(entry.name);
    if (id !== undefined && this.code[id] !== 0) this.setAnnouncement(id, a);
  }

  swap(i: number, j: number): void {
    const o = this.order;
    const t = o[i];
    o[i] = o[j];
    o[j] = t;
  }

  removeWhere(drop: (n: NodeState) => boolean): NodeState[] {
    const removed: NodeState[] = [];
    let w = 0;
    for (let r = 0; r < this.count; r++) {
      const id = this.order[r];
      const e = new Entry(this, id);
      if (drop(e)) {
        removed.push(e.snapshot());
        this.code[id] = 0;
        this.variant.delete(id);
      } else {
        this.order[w++] = id;
      }
    }
    this.count = w;
    return removed;
  }

  /**
   * A settled table: every member of `order` (ids, in probe order) alive at `incarnation` with its
   * first announcement, as if the cluster had been running for a while. Only on an empty table.
   */
  fillSettled(order: Int32Array, incarnation: number, stateChangedAt: number): void {
    if (this.count !== 0) throw new Error("fillSettled on a table that has entries");
    for (let i = 0; i < order.length; i++) {
      const id = order[i];
      this.ensure(id);
      this.code[id] = CODE.alive;
      this.setIncarnation(id, incarnation);
      this.setChanged(id, stateChangedAt);
      this.order[this.count++] = id;
    }
  }

  /** Bytes held by the columns. */
  get bytes(): number {
    return this.code.byteLength + this.inc.byteLength + this.changed.byteLength + this.order.byteLength;
  }

  // ------------------------------------------------------------- columns (for Entry)

  /** @internal */
  name(id: number): string {
    return this.registry.names[id];
  }

  /** @internal */
  announcement(id: number): Announcement {
    return this.registry.announcement(id, this.variant.get(id) ?? 0);
  }

  /** @internal */
  state(id: number): MemberState {
    return STATES[this.code[id] - 1];
  }

  /** @internal */
  setState(id: number, s: MemberState): void {
    this.code[id] = CODE[s];
  }

  /** @internal */
  incarnation(id: number): number {
    return this.inc[id];
  }

  /** @internal Incarnations are uint32 on the wire. */
  setIncarnation(id: number, v: number): void {
    if (v >>> 0 !== v) throw new RangeError(`incarnation ${v} does not fit the table's uint32 column`);
    this.inc[id] = v;
  }

  /** @internal */
  changedAt(id: number): number {
    return this.changed[id];
  }

  /** @internal The simulator's clock is whole milliseconds from 0. */
  setChanged(id: number, t: number): void {
    if ((t | 0) !== t) throw new RangeError(`time ${t} does not fit the table's int32 ms column`);
    this.changed[id] = t;
  }

  private setAnnouncement(id: number, a: Announcement): void {
    const k = this.registry.intern(id, a);
    if (k === 0) this.variant.delete(id);
    else this.variant.set(id, k);
  }

  private ensure(id: number): void {
    if (id < this.code.length) return;
    const n = Math.max(id + 1, this.code.length * 2);
    const grow = <T extends Uint8Array | Uint32Array | Int32Array>(old: T, make: (n: number) => T): T => {
      const a = make(n);
      a.set(old);
      return a;
    };
    this.code = grow(this.code, (k) => new Uint8Array(k));
    this.inc = grow(this.inc, (k) => new Uint32Array(k));
    this.changed = grow(this.changed, (k) => new Int32Array(k));
    this.order = grow(this.order, (k) => new Int32Array(k));
  }
}

/** A view of one entry: its fields read and write the store's columns. */
class Entry implements NodeState {
  constructor(
    private readonly store: CompactMemberStore,
    private readonly id: number,
  ) {}

  get name(): string {
    return this.store.name(this.id);
  }
  get addr(): Uint8Array {
    return this.store.announcement(this.id).addr;
  }
  get address(): string {
    return this.store.announcement(this.id).address;
  }
  get port(): number {
    return this.store.announcement(this.id).port;
  }
  get meta(): Uint8Array {
    return this.store.announcement(this.id).meta;
  }
  get vsn(): Announcement["vsn"] {
    return this.store.announcement(this.id).vsn;
  }
  get incarnation(): number {
    return this.store.incarnation(this.id);
  }
  set incarnation(v: number) {
    this.store.setIncarnation(this.id, v);
  }
  get state(): MemberState {
    return this.store.state(this.id);
  }
  set state(s: MemberState) {
    this.store.setState(this.id, s);
  }
  get stateChangedAt(): number {
    return this.store.changedAt(this.id);
  }
  set stateChangedAt(t: number) {
    this.store.setChanged(this.id, t);
  }

  /** Plain data, for an entry about to leave the table. */
  snapshot(): NodeState {
    const a = this.store.announcement(this.id);
    return { name: this.name, addr: a.addr, address: a.address, port: a.port, meta: a.meta, vsn: a.vsn, incarnation: this.incarnation, state: this.state, stateChangedAt: this.stateChangedAt };
  }
}
