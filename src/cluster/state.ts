// The member table and memberlist's state-transition rules (alive / suspect / dead / merge),
// including refutation of rumours about ourselves and Lifeguard suspicion timers.
// Sending is delegated to a StateBroadcaster so the rules can be tested without sockets.

import type { Logger } from "../log.ts";
import type { TimingWheel } from "../timer/wheel.ts";
import { bytesToIp } from "../netutil.ts";
import type { Awareness } from "./awareness.ts";
import type { Alive, Dead, IpBytes, PushNodeState, Suspect, Vsn } from "./messages.ts";
import { NodeStateCode } from "./messages.ts";
import { MapMemberStore, type MemberState, type MemberStore, type NodeList, type NodeState } from "./members.ts";
import type { GossipCounters } from "./metrics.ts";
import { Suspicion, suspicionConfirmationsK, suspicionTimeoutMs } from "./suspicion.ts";

export type { MemberState, NodeState } from "./members.ts";

/** Sends facts to the cluster; each is named after its node so newer facts replace older ones. */
export interface StateBroadcaster {
  alive(a: Alive, onDone?: () => void): void;
  suspect(s: Suspect): void;
  dead(d: Dead, onDone?: () => void): void;
}

export type StateEventKind = "join" | "update" | "leave" | "dead";

export interface StateTableOptions {
  localName: string;
  probeIntervalMs: number;
  suspicionMult: number;
  suspicionMaxTimeoutMult: number;
  wheel: TimingWheel;
  /** Clock for stateChangedAt and elapsed times; the wheel's clock in tests. */
  now: () => number;
  awareness: Awareness;
  /** Default Math.random. */
  random?: Random;
  /**
   * Lifeguard's dynamic suspicion (default true): timeouts start long and shrink as peers confirm.
   * Off: a fixed timeout of the minimum and no confirmations, as SWIM before Lifeguard.
   */
  lifeguard?: boolean;
  broadcaster: StateBroadcaster;
  /** Where the entries live (default: a MapMemberStore of its own). */
  store?: MemberStore;
  counters: GossipCounters;
  logger: Logger;
  /** Synchronous, cheap; exceptions are caught and logged. */
  onEvent: (kind: StateEventKind, node: NodeState) => void;
}

function stateFromCode(code: number): MemberState | null {
  switch (code) {
    case NodeStateCode.alive:
      return "alive";
    case NodeStateCode.suspect:
      return "suspect";
    case NodeStateCode.dead:
      return "dead";
    case NodeStateCode.left:
      return "left";
    default:
      return null;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function vsnEqual(a: Vsn, b: Vsn): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class IncompatibleVersionError extends Error {
  constructor(
    readonly node: string,
    message: string,
  ) {
    super(message);
    this.name = "IncompatibleVersionError";
  }
}

/** Source of uniform numbers in [0, 1): Math.random unless a seeded generator is injected. */
export type Random = () => number;

/** Fisher–Yates over the store's probe order. */
function shuffle(store: MemberStore, random: Random): void {
  for (let i = store.size - 1; i > 0; i--) store.swap(i, Math.floor(random() * (i + 1)));
}

/** Up to k distinct random entries not excluded by `skip` (tries 3·n times, like memberlist). */
export function kRandomNodes(k: number, nodes: NodeList, skip: (n: NodeState) => boolean, random: Random = Math.random): NodeState[] {
  const n = nodes.size;
  const out: NodeState[] = [];
  for (let i = 0; i < 3 * n && out.length < k; i++) {
    const node = nodes.at(Math.floor(random() * n));
    // by name: a store may hand out a fresh view of the same entry each time
    if (skip(node) || out.some((o) => o.name === node.name)) continue;
    out.push(node);
  }
  return out;
}

export class StateTable {
  /** Entries in probe order (shuffled), indexed by name. */
  private readonly store: MemberStore;
  private readonly timers = new Map<string, Suspicion>();
  private incarnationCounter = 0;
  private leavingFlag = false;

  private readonly random: Random;
  private readonly lifeguard: boolean;

  constructor(private readonly opts: StateTableOptions) {
    this.random = opts.random ?? Math.random;
    this.lifeguard = opts.lifeguard ?? true;
    this.store = opts.store ?? new MapMemberStore();
  }

  get localName(): string {
    return this.opts.localName;
  }

  /** N in memberlist's formulas: every entry, self and not-yet-reaped dead included. */
  get numNodes(): number {
    return this.store.size;
  }

  get leaving(): boolean {
    return this.leavingFlag;
  }

  get(name: string): NodeState | undefined {
    return this.store.get(name);
  }

  local(): NodeState | undefined {
    return this.store.get(this.opts.localName);
  }

  /** Every entry in probe order, as a live list (no copy). */
  list(): NodeList {
    return this.store;
  }

  /** A copy of every entry, in probe order. */
  all(): NodeState[] {
    const out: NodeState[] = [];
    for (let i = 0; i < this.store.size; i++) out.push(this.store.at(i));
    return out;
  }

  /** True when some other entry satisfies `pred` (stops at the first). */
  anyOther(pred: (n: NodeState) => boolean): boolean {
    for (let i = 0; i < this.store.size; i++) {
      const n = this.store.at(i);
      if (n.name !== this.opts.localName && pred(n)) return true;
    }
    return false;
  }

  /** True when some other node is alive (so a broadcast has someone to reach). */
  anyAlive(): boolean {
    return this.anyOther((n) => n.state === "alive");
  }

  counts(): { alive: number; suspect: number; dead: number; left: number } {
    const c = { alive: 0, suspect: 0, dead: 0, left: 0 };
    for (let i = 0; i < this.store.size; i++) c[this.store.at(i).state]++;
    return c;
  }

  nextIncarnation(): number {
    return ++this.incarnationCounter;
  }

  /** Announces ourselves (startup or meta change): fresh incarnation, alive, broadcast. */
  setLocalAlive(addr: IpBytes, port: number, meta: Uint8Array, vsn: Vsn, onDone?: () => void): void {
    const a: Alive = { incarnation: this.nextIncarnation(), node: this.opts.localName, addr, port, meta, vsn };
    this.aliveNode(a, true, onDone);
  }

  /** Marks ourselves as leaving and gossips dead{From: self}; onDone runs once it was gossiped out. */
  leave(onDone: () => void): boolean {
    this.leavingFlag = true;
    const me = this.local();
    if (!me) return false;
    this.deadNode({ incarnation: me.incarnation, node: me.name, from: me.name }, onDone);
    return true;
  }

  // ---------------------------------------------------------------- rules

  /**
   * Applies an alive message. `bootstrap` is true only for our own announcements (no refutation).
   * Returns false when the message was ignored.
   */
  aliveNode(a: Alive, bootstrap = false, onDone?: () => void): boolean {
    const isLocal = a.node === this.opts.localName;
    if (this.leavingFlag && isLocal) return false;
    const [pMin, pMax] = a.vsn;
    if (pMin === 0 || pMax === 0 || pMin > pMax) {
      this.opts.logger.debug("ignoring alive with bad protocol versions", { node: a.node, vsn: a.vsn });
      return false;
    }
    const address = bytesToIp(a.addr);
    if (address === null) return false;

    let state = this.store.get(a.node);
    let movesNode = false;
    if (!state) {
      // new entries start "dead" so the transition below fires a join event
      const store = this.store;
      // insert at a random position so new nodes are probed in random order
      const at = Math.floor(this.random() * (store.size + 1));
      state = store.add(a.node, { addr: a.addr, address, port: a.port, meta: a.meta, vsn: a.vsn }, 0, "dead", this.opts.now());
      store.swap(at, store.size - 1);
      movesNode = true;
    } else if (state.address !== address || state.port !== a.port) {
      if (state.state === "left") {
        this.opts.logger.info("address of left node changed", { node: a.node, from: `${state.address}:${state.port}`, to: `${address}:${a.port}` });
        movesNode = true;
      } else {
        this.opts.logger.warn("conflicting address for node", { node: a.node, ours: `${state.address}:${state.port}`, theirs: `${address}:${a.port}`, state: state.state });
        return false;
      }
    }

    if (!isLocal && !movesNode && a.incarnation <= state.incarnation) return false;
    if (isLocal && a.incarnation < state.incarnation) return false;

    this.clearTimer(a.node);
    const oldState = state.state;
    const oldMeta = state.meta;

    if (isLocal && !bootstrap) {
      // someone is spreading an alive about us: only our own exact view may stand
      if (a.incarnation === state.incarnation && bytesEqual(a.meta, state.meta) && vsnEqual(a.vsn, state.vsn)) return false;
      this.refute(state, a.incarnation);
      return true;
    }

    this.opts.broadcaster.alive(a, onDone);
    state.incarnation = a.incarnation;
    this.store.announce(state, { addr: a.addr, address, port: a.port, meta: a.meta, vsn: a.vsn });
    if (state.state !== "alive") {
      state.state = "alive";
      state.stateChangedAt = this.opts.now();
    }
    if (oldState === "dead" || oldState === "left") this.emit("join", state);
    else if (!bytesEqual(oldMeta, state.meta) || oldState !== "alive") this.emit("update", state);
    return true;
  }

  /** Applies a suspect message (ours or gossiped). Returns false when ignored. */
  suspectNode(s: Suspect): boolean {
    const state = this.store.get(s.node);
    if (!state) return false;
    if (s.incarnation < state.incarnation) return false;

    const timer = this.timers.get(s.node);
    if (timer) {
      if (timer.confirm(s.from)) this.opts.broadcaster.suspect(s);
      return true;
    }
    if (state.state !== "alive") return false;

    if (state.name === this.opts.localName) {
      if (this.leavingFlag) return false;
      this.refute(state, s.incarnation);
      this.opts.logger.warn("refuting a suspect message", { from: s.from });
      return true;
    }
    this.opts.broadcaster.suspect(s);
    this.opts.counters.suspicionsRaised++;

    state.incarnation = s.incarnation;
    state.state = "suspect";
    state.stateChangedAt = this.opts.now();

    const n = this.numNodes;
    const k = this.lifeguard ? suspicionConfirmationsK(this.opts.suspicionMult, n) : 0;
    const minMs = suspicionTimeoutMs(this.opts.suspicionMult, n, this.opts.probeIntervalMs);
    const maxMs = this.lifeguard ? this.opts.suspicionMaxTimeoutMult * minMs : minMs;
    const name = s.node;
    const susp: Suspicion = new Suspicion({
      from: s.from,
      k,
      minMs,
      maxMs,
      wheel: this.opts.wheel,
      now: this.opts.now,
      onTimeout: (confirmations) => {
        if (this.timers.get(name) !== susp) return;
        const cur = this.store.get(name);
        if (!cur || cur.state !== "suspect") return;
        this.opts.logger.info("marking node as failed, suspect timeout reached", { node: name, confirmations });
        this.deadNode({ incarnation: cur.incarnation, node: name, from: this.opts.localName });
      },
    });
    this.timers.set(name, susp);
    this.emit("update", state);
    return true;
  }

  /** Applies a dead message; From==Node means a graceful leave. Returns false when ignored. */
  deadNode(d: Dead, onDone?: () => void): boolean {
    const state = this.store.get(d.node);
    if (!state) return false;
    if (d.incarnation < state.incarnation) return false;
    this.clearTimer(d.node);
    if (state.state === "dead" || state.state === "left") return false;

    if (state.name === this.opts.localName) {
      if (!this.leavingFlag) {
        this.refute(state, d.incarnation);
        this.opts.logger.warn("refuting a dead message", { from: d.from });
        return true;
      }
      this.opts.broadcaster.dead(d, onDone);
    } else {
      this.opts.broadcaster.dead(d);
    }

    state.incarnation = d.incarnation;
    state.state = d.node === d.from ? "left" : "dead";
    state.stateChangedAt = this.opts.now();
    this.emit(state.state === "left" ? "leave" : "dead", state);
    return true;
  }

  /** Merges a remote push/pull table: alive → alive rules, left → dead{From:Node}, dead/suspect → suspect. */
  mergeState(remote: readonly PushNodeState[]): void {
    for (const r of remote) {
      switch (stateFromCode(r.state)) {
        case "alive":
          this.aliveNode({ incarnation: r.incarnation, node: r.name, addr: r.addr, port: r.port, meta: r.meta, vsn: r.vsn });
          break;
        case "left":
          this.deadNode({ incarnation: r.incarnation, node: r.name, from: r.name });
          break;
        case "dead":
        case "suspect":
          this.suspectNode({ incarnation: r.incarnation, node: r.name, from: this.opts.localName });
          break;
        default:
          // unknown state codes are ignored, as memberlist does
          break;
      }
    }
  }

  /** Throws IncompatibleVersionError when a node's current protocol/delegate version is outside the common range. */
  verifyProtocol(remote: readonly PushNodeState[]): void {
    let maxPMin = 0;
    let minPMax = 255;
    let maxDMin = 0;
    let minDMax = 255;
    const take = (v: Vsn) => {
      maxPMin = Math.max(maxPMin, v[0]);
      minPMax = Math.min(minPMax, v[1]);
      maxDMin = Math.max(maxDMin, v[3]);
      minDMax = Math.min(minDMax, v[4]);
    };
    for (const r of remote) if (r.state === NodeStateCode.alive) take(r.vsn);
    const store = this.store;
    for (let i = 0; i < store.size; i++) {
      const n = store.at(i);
      if (n.state === "alive") take(n.vsn);
    }
    const check = (name: string, v: Vsn) => {
      if (v[2] < maxPMin || v[2] > minPMax) throw new IncompatibleVersionError(name, `node ${name} speaks protocol ${v[2]}, cluster range is [${maxPMin}, ${minPMax}]`);
      if (v[5] < maxDMin || v[5] > minDMax) throw new IncompatibleVersionError(name, `node ${name} speaks delegate protocol ${v[5]}, cluster range is [${maxDMin}, ${minDMax}]`);
    };
    for (const r of remote) check(r.name, r.vsn);
    for (let i = 0; i < store.size; i++) {
      const n = store.at(i);
      check(n.name, n.vsn);
    }
  }

  /** Our full table as push/pull entries (suspect, dead and left included). */
  toPushStates(): PushNodeState[] {
    const out: PushNodeState[] = [];
    for (let i = 0; i < this.store.size; i++) {
      const n = this.store.at(i);
      out.push({ name: n.name, addr: n.addr, port: n.port, meta: n.meta, incarnation: n.incarnation, state: NodeStateCode[n.state], vsn: n.vsn });
    }
    return out;
  }

  /**
   * End of a probe round: drops dead and left entries older than `gossipToTheDeadMs`
   * (never ourselves) and reshuffles the probe order. Returns the reaped entries.
   */
  reapAndShuffle(gossipToTheDeadMs: number): NodeState[] {
    const now = this.opts.now();
    const reaped = this.store.removeWhere((n) => (n.state === "dead" || n.state === "left") && n.name !== this.opts.localName && now - n.stateChangedAt > gossipToTheDeadMs);
    for (const n of reaped) this.clearTimer(n.name);
    shuffle(this.store, this.random);
    return reaped;
  }

  /** Stops every suspicion timer (shutdown). */
  stop(): void {
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }

  // ---------------------------------------------------------------- internals

  private refute(me: NodeState, accusedInc: number): void {
    let inc = this.nextIncarnation();
    if (accusedInc >= inc) {
      inc = accusedInc + 1;
      this.incarnationCounter = inc;
    }
    me.incarnation = inc;
    this.opts.awareness.applyDelta(1);
    this.opts.counters.refutations++;
    this.opts.broadcaster.alive({ incarnation: inc, node: me.name, addr: me.addr, port: me.port, meta: me.meta, vsn: me.vsn });
  }

  private clearTimer(name: string): void {
    const t = this.timers.get(name);
    if (t) {
      t.cancel();
      this.timers.delete(name);
    }
  }

  private emit(kind: StateEventKind, node: NodeState): void {
    try {
      this.opts.onEvent(kind, node);
    } catch (err) {
      this.opts.logger.error("member event listener threw", { event: kind, node: node.name, err });
    }
  }
}
