// The simulated world: one virtual clock, one event queue, a network with per-link latency, loss,
// partitions and nodes whose event loop stalls, and many real engines (src/cluster Memberlist) on it.
// Nothing here reads wall time or Math.random: the engines get the virtual clock, a manual timing wheel
// each and a seeded PRNG each, so a seed replays a run exactly. Microtasks (the engine's awaits) are
// drained after every batch of events due at the same virtual millisecond.

import { type Announcement, MapMemberStore, type Member, Memberlist, type MemberlistInit, type MemberStore } from "../src/cluster/index.ts";
import type { Endpoint } from "../src/cluster/index.ts";
import { OUR_VSN } from "../src/cluster/messages.ts";
import { ipToBytes } from "../src/netutil.ts";
import { CompactMemberStore, MemberRegistry } from "./compactstore.ts";
import type { Logger } from "../src/log.ts";
import { TimingWheel } from "../src/timer/wheel.ts";
import { type Carried, type Links, MemoryNetwork } from "./memtransport.ts";
import { pairHash, prng, type Random } from "./prng.ts";

/** The production wheel's tick: engine timers fire on these boundaries, as they do in a real process. */
export const TICK_MS = 10;

export interface NetworkConfig {
  /**
   * Probability that a packet is lost. Streams: opening one pays TCP's retransmit timeout for each lost
   * handshake; bytes on an open stream arrive in order, without loss or extra delay.
   */
  loss: number;
  /** One-way latency range in ms: each link has its own mean in the range, each packet jitters around it. */
  latencyMs: [number, number];
}

/**
 * How each engine keeps its member table: "compact" (sim/compactstore.ts, shared columns, what makes
 * 10,000 nodes fit) or "map" (the engine's default MapMemberStore). Same seed, same event log.
 */
export type StoreKind = "compact" | "map";

export type MemberEventKind = "join" | "update" | "leave";

/**
 * How a slow node is slow. "loop": its event loop stops (GC pause, CPU starvation): no timer fires and
 * nothing it receives is handled; when it resumes, its overdue timers run first (and the code awaiting
 * them), then the packets that queued up, as a JS or Go event loop does, so a probe whose ack is sitting
 * in the queue times out. "recv": only the handling of what it receives stops, its timers and sends go
 * on (a receive path stuck behind a backlog; the Lifeguard paper's anomalous members, as we read it).
 */
export type StallMode = "loop" | "recv";

export interface WorldObserver {
  /** A member event at `observer` about `subject` (both node indices). */
  memberEvent(observer: number, kind: MemberEventKind, subject: number, m: Member): void;
}

interface QueuedEvent {
  t: number;
  seq: number;
  /** The node it is delivered to (held while that node stalls), or -1. */
  node: number;
  fn: () => void;
  cancelled: boolean;
}

/** Binary min-heap on (t, seq): equal times run in the order they were queued. */
class EventQueue {
  private readonly items: QueuedEvent[] = [];
  private seq = 0;

  get size(): number {
    return this.items.length;
  }

  peekTime(): number {
    return this.items.length ? this.items[0].t : Infinity;
  }

  push(t: number, node: number, fn: () => void): QueuedEvent {
    const e: QueuedEvent = { t, seq: this.seq++, node, fn, cancelled: false };
    const a = this.items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, a[p])) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = e;
    return e;
  }

  pop(): QueuedEvent | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const c = r < a.length && before(a[r], a[l]) ? r : l;
        if (!before(a[c], last)) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

function before(x: QueuedEvent, y: QueuedEvent): boolean {
  return x.t < y.t || (x.t === y.t && x.seq < y.seq);
}

export class SimNode {
  ml: Memberlist | null = null;
  /** Crashed: receives nothing, runs nothing. */
  dead = false;
  stalledUntil = 0;
  stallMode: StallMode = "loop";
  readonly held: (() => void)[] = [];
  packetsOut = 0;
  bytesOut = 0;

  constructor(
    readonly index: number,
    readonly name: string,
    readonly address: string,
    readonly wheel: TimingWheel,
  ) {}

  get stalled(): boolean {
    return this.stalledUntil > 0;
  }
}

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, child: () => silent, enabled: () => false };

export const GOSSIP_PORT = 7946;

export function nodeAddress(i: number): string {
  const n = i + 1;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

export class World implements Links {
  now = 0;
  readonly nodes: SimNode[] = [];
  readonly net: MemoryNetwork;
  private readonly byAddress = new Map<string, SimNode>();
  private readonly queue = new EventQueue();
  private readonly rng: Random;
  /** Nodes on the minority side of the partition (when one is active). */
  private partitioned: Uint8Array | null = null;
  packetsSent = 0;
  packetsLost = 0;
  bytesSent = 0;
  /** Bytes written to streams (push/pull, TCP pings). */
  streamBytes = 0;
  /** Member ids shared by the compact tables. */
  readonly registry = new MemberRegistry();

  constructor(
    readonly seed: number,
    readonly config: NetworkConfig,
    private readonly observer: WorldObserver,
    readonly storeKind: StoreKind = "compact",
  ) {
    this.net = new MemoryNetwork(this);
    this.rng = prng(seed, 0);
  }

  /** The network's own random stream (loss, jitter, picks made by the scenario). */
  random(): number {
    return this.rng();
  }

  // ------------------------------------------------------------- nodes

  /** Starts a real engine as node `nodes.length`, joining `seeds` (node indices). */
  addNode(seeds: number[], init: Partial<MemberlistInit>): Promise<SimNode> {
    return this.startNode(seeds, init, this.newStore());
  }

  /**
   * Starts nodes 0..count−1 as a settled cluster: each engine's table already holds every one of them
   * alive at incarnation 1 (in its own random probe order), as after a long quiet run, so 10,000 nodes
   * need not join one by one (10⁸ join events). No join events are reported for these entries.
   */
  async settle(count: number, init: Partial<MemberlistInit>): Promise<void> {
    if (this.nodes.length !== 0) throw new Error("settle: the world already has nodes");
    const ids = new Int32Array(count);
    const announced: Announcement[] = [];
    for (let i = 0; i < count; i++) {
      const address = nodeAddress(i);
      const addr = ipToBytes(address);
      if (!addr) throw new Error(`bad simulated address ${address}`);
      const a: Announcement = { addr, address, port: GOSSIP_PORT, meta: new Uint8Array(0), vsn: OUR_VSN };
      announced.push(a);
      ids[i] = this.registry.id(`n${i}`);
      this.registry.intern(ids[i], a);
    }
    for (let i = 0; i < count; i++) {
      const order = ids.slice();
      const random = prng(this.seed, 0x100_0000 + i);
      for (let k = order.length - 1; k > 0; k--) {
        const j = Math.floor(random() * (k + 1));
        const t = order[k];
        order[k] = order[j];
        order[j] = t;
      }
      const store = this.newStore();
      if (store instanceof CompactMemberStore) store.fillSettled(order, 1, this.now);
      else for (const id of order) store.add(this.registry.names[id], announced[id], 1, "alive", this.now);
      await this.startNode([], init, store);
    }
  }

  private newStore(): MemberStore {
    return this.storeKind === "compact" ? new CompactMemberStore(this.registry) : new MapMemberStore();
  }

  private async startNode(seeds: number[], init: Partial<MemberlistInit>, store: MemberStore): Promise<SimNode> {
    const i = this.nodes.length;
    const name = `n${i}`;
    const address = nodeAddress(i);
    const clock = () => this.now;
    const wheel = new TimingWheel({ tickMs: TICK_MS, wheelSize: 64, now: clock, manual: true });
    const node = new SimNode(i, name, address, wheel);
    this.nodes.push(node);
    this.byAddress.set(address, node);
    const report = (kind: MemberEventKind) => (m: Member) => {
      if (!node.dead) this.observer.memberEvent(i, kind, Number(m.name.slice(1)), m);
    };
    node.ml = await Memberlist.create({
      ...init,
      name,
      peers: seeds.map((s) => `${nodeAddress(s)}:${GOSSIP_PORT}`),
      transport: this.net.transport(address, GOSSIP_PORT),
      advertiseAddress: address,
      logger: silent,
      wheel,
      clock,
      random: prng(this.seed, i + 1),
      store,
      events: { notifyJoin: report("join"), notifyUpdate: report("update"), notifyLeave: report("leave") },
    });
    return node;
  }

  /** Crash (no leave): the engine stops and its address goes silent. */
  async kill(node: SimNode): Promise<void> {
    node.dead = true;
    node.held.length = 0;
    await node.ml?.shutdown();
  }

  /** The node stops for `ms` (see StallMode): what it receives meanwhile is held until then. */
  stall(node: SimNode, ms: number, mode: StallMode = "loop"): void {
    if (node.dead || node.stalled) return;
    node.stalledUntil = this.now + ms;
    node.stallMode = mode;
    this.queue.push(this.now + ms, -1, () => this.resume(node));
  }

  private resume(node: SimNode): void {
    node.stalledUntil = 0;
    if (node.dead) return;
    // a waking event loop runs its overdue timers and the code that awaited them (microtasks) first,
    // then reads what arrived meanwhile: so held packets go after the microtask queue has drained
    if (node.stallMode === "loop") node.wheel.advance(this.now);
    const held = node.held.splice(0);
    if (held.length === 0) return;
    setImmediate(() => {
      for (const fn of held) {
        if (node.dead) return;
        fn();
      }
    });
  }

  setPartition(minority: Uint8Array | null): void {
    this.partitioned = minority;
  }

  // ------------------------------------------------------------- Links (the simulated network)

  carry(from: Endpoint, to: Endpoint, what: Carried, bytes: number, deliver: () => void): void {
    const src = this.byAddress.get(from.address);
    const dst = this.byAddress.get(to.address);
    if (what === "packet") {
      this.packetsSent++;
      this.bytesSent += bytes;
      if (src) {
        src.packetsOut++;
        src.bytesOut += bytes;
      }
    }
    else if (what === "data") this.streamBytes += bytes;
    if (!src || !dst || dst.dead) return;
    const p = this.partitioned;
    if (p && p[src.index] !== p[dst.index]) return;
    if (what === "data") {
      this.queue.push(this.now, dst.index, deliver);
      return;
    }
    let delay = this.latency(src.index, dst.index);
    const loss = this.config.loss;
    if (what === "packet" && loss > 0 && this.rng() < loss) {
      this.packetsLost++;
      return;
    }
    if (what === "dial" && loss > 0) {
      // a lost SYN or SYN-ACK costs TCP's initial retransmit timeout (1 s, doubling)
      const handshakeLost = 1 - (1 - loss) * (1 - loss);
      for (let rto = 1000; rto <= 32_000 && this.rng() < handshakeLost; rto *= 2) delay += rto;
    }
    this.queue.push(this.now + delay, dst.index, deliver);
  }

  after(ms: number, fn: () => void): () => void {
    const e = this.queue.push(this.now + Math.max(0, Math.ceil(ms)), -1, fn);
    return () => {
      e.cancelled = true;
    };
  }

  /** Whole ms ≥ 1: the link's own mean (stable per pair) with ±25% jitter per packet. */
  private latency(a: number, b: number): number {
    const [lo, hi] = this.config.latencyMs;
    const mean = lo + (hi - lo) * pairHash(this.seed, a, b);
    const jitter = 0.75 + 0.5 * this.rng();
    return Math.max(1, Math.round(Math.min(hi, Math.max(lo, mean * jitter))));
  }

  // ------------------------------------------------------------- the clock

  /** Schedules `fn` at virtual time `t` (ms). */
  at(t: number, fn: () => void): void {
    this.queue.push(Math.max(t, this.now), -1, fn);
  }

  /** Runs the world until virtual time `until` (or until `stop()` returns true, checked after each step). */
  async run(until: number, stop?: () => boolean): Promise<void> {
    while (this.now < until) {
      const nextTick = (Math.floor(this.now / TICK_MS) + 1) * TICK_MS;
      const t = Math.min(this.queue.peekTime(), nextTick, until);
      this.now = t;
      const onTick = t % TICK_MS === 0;
      let first = true;
      do {
        this.runDue(t);
        if (first && onTick) this.advanceWheels(t);
        first = false;
        await drainMicrotasks();
      } while (this.queue.peekTime() <= t);
      if (stop?.()) return;
    }
  }

  private runDue(t: number): void {
    while (this.queue.peekTime() <= t) {
      const e = this.queue.pop();
      if (!e || e.cancelled) continue;
      if (e.node >= 0) {
        const n = this.nodes[e.node];
        if (n.dead) continue;
        if (n.stalled) {
          n.held.push(e.fn);
          continue;
        }
      }
      e.fn();
    }
  }

  private advanceWheels(t: number): void {
    for (const n of this.nodes) if (!n.dead && !(n.stalled && n.stallMode === "loop")) n.wheel.advance(t);
  }
}

/** Resolves after every queued microtask (and those they queue) has run. */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
