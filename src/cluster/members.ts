// Where the member table lives: the engine's rules (state.ts) read and change entries only through a
// MemberStore, so storage can be swapped without touching them. The default keeps one object per entry
// in a Map, as memberlist does. A store serving many engines at once (the simulator's, sim/) may keep
// entries in columns and share what members announce (address, meta, versions) between engines.

import type { IpBytes, Vsn } from "./messages.ts";

export type MemberState = "alive" | "suspect" | "dead" | "left";

/** What a member last announced about itself (an alive message). Replaced as a whole, never changed in place. */
export interface Announcement {
  /** Raw IP bytes (4 or 16). */
  readonly addr: IpBytes;
  /** Text form of addr (IPv4-mapped addresses print as IPv4). */
  readonly address: string;
  readonly port: number;
  readonly meta: Uint8Array;
  readonly vsn: Vsn;
}

/** One entry of the member table. */
export interface NodeState extends Announcement {
  readonly name: string;
  incarnation: number;
  state: MemberState;
  /** Clock time (ms) of the last state change. */
  stateChangedAt: number;
}

/** Entries in probe order. */
export interface NodeList {
  readonly size: number;
  /** The entry at position i (0 ≤ i < size). */
  at(i: number): NodeState;
}

export interface MemberStore extends NodeList {
  get(name: string): NodeState | undefined;
  /** Appends a new entry at the end of the probe order and returns it as stored. */
  add(name: string, announced: Announcement, incarnation: number, state: MemberState, stateChangedAt: number): NodeState;
  /** Replaces what an entry announced (a newer alive message). */
  announce(entry: NodeState, announced: Announcement): void;
  swap(i: number, j: number): void;
  /** Removes every entry `drop` selects, keeping the order of the rest; returns the removed ones. */
  removeWhere(drop: (n: NodeState) => boolean): NodeState[];
}

interface MutableNodeState {
  name: string;
  addr: IpBytes;
  address: string;
  port: number;
  meta: Uint8Array;
  vsn: Vsn;
  incarnation: number;
  state: MemberState;
  stateChangedAt: number;
}

function copyVsn(v: Vsn): Vsn {
  return [v[0], v[1], v[2], v[3], v[4], v[5]];
}

/** The default store: an object per entry, indexed by name, and an array in probe order. */
export class MapMemberStore implements MemberStore {
  private nodes: MutableNodeState[] = [];
  private readonly byName = new Map<string, MutableNodeState>();

  get size(): number {
    return this.nodes.length;
  }

  at(i: number): NodeState {
    return this.nodes[i];
  }

  get(name: string): NodeState | undefined {
    return this.byName.get(name);
  }

  add(name: string, a: Announcement, incarnation: number, state: MemberState, stateChangedAt: number): NodeState {
    const n: MutableNodeState = { name, addr: a.addr, address: a.address, port: a.port, meta: a.meta, vsn: copyVsn(a.vsn), incarnation, state, stateChangedAt };
    this.byName.set(name, n);
    this.nodes.push(n);
    return n;
  }

  announce(entry: NodeState, a: Announcement): void {
    const n = this.byName.get(entry.name);
    if (!n) return;
    n.vsn = copyVsn(a.vsn);
    n.meta = a.meta;
    n.addr = a.addr;
    n.address = a.address;
    n.port = a.port;
  }

  swap(i: number, j: number): void {
    const t = this.nodes[i];
    this.nodes[i] = this.nodes[j];
    this.nodes[j] = t;
  }

  removeWhere(drop: (n: NodeState) => boolean): NodeState[] {
    const keep: MutableNodeState[] = [];
    const removed: NodeState[] = [];
    for (const n of this.nodes) {
      if (drop(n)) {
        removed.push(n);
        this.byName.delete(n.name);
      } else {
        keep.push(n);
      }
    }
    this.nodes = keep;
    return removed;
  }
}
