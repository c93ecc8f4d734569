// The control plane's side: this node's admission counts go out piggybacked on gossip (memberlist user
// broadcasts, each count re-sent a few times like memberlist's own facts, at most `bytesPerS`), and
// the whole set goes with every push/pull; other nodes' counts come in and the difference to what we
// last heard from that node is charged to our buckets. Counts are cumulative, so loss costs delay,
// not accuracy. A node silent for `silentMs` (partitioned, or just back) starts afresh: what it
// admitted while we could not hear it is not charged (each side enforced the limit meanwhile).

import { decodeUsage, MAX_ENTRY_BYTES, originBytes, SECTION_HEADER_BYTES, UsageWriter } from "./codec.ts";
import type { Limit } from "./limit.ts";
import type { Entry, UsageTable } from "./table.ts";

/** Where charges for admissions made elsewhere go: this process's buckets, or the workers'. */
export interface ChargeSink {
  /** `lagMs`: how long ago they were admitted (what the origin said, plus the way here). */
  charge(e: Entry, n: number, now: number, lagMs: number): void;
}

export interface UsageGossipOptions {
  nodeName: string;
  /** The user-message type byte our messages travel under. */
  type: number;
  table: UsageTable;
  limits: readonly Limit[];
  /** Bytes per second this node sends at most. */
  bytesPerS: number;
  /** Silence after which a node's next counts are a fresh start, not charged. */
  silentMs: number;
  /** With nothing to tell, a header-only message this often (so silence means unreachable). */
  heartbeatMs: number;
  /** Known members (a count is re-sent 4·⌈log10(n+1)⌉ times, as memberlist re-sends its facts); must be cheap. */
  members(): number;
  /** Called before each send: hands this process's fresh admissions to local(). */
  pull?(): void;
  sink: ChargeSink;
  now?: () => number;
}

interface Origin {
  id: number;
  boot: number;
  epoch: number;
  lastHeard: number;
}

/** Push/pull state: the most recently used buckets up to this size. */
const STATE_MAX_BYTES = 256 * 1024;
/** What a message is taken to spend on the way (a LAN's UDP). */
const TRANSIT_MS = 2;
/** Calls this close to a heartbeat's first belong to the same gossip round. */
const HEARTBEAT_ROUND_MS = 2;
/** Largest gossip message (a UDP packet's room is smaller anyway). */
const MESSAGE_MAX_BYTES = 1400;

export interface UsageGossipStats {
  messagesOut: number;
  bytesOut: number;
  /** Sends skipped because the byte budget was spent. */
  capped: number;
  messagesIn: number;
  malformed: number;
  /** Admissions by other nodes charged to our buckets. */
  charged: number;
  /** Nodes heard again after a silence (their counts restarted, not charged). */
  resyncs: number;
}

export class UsageGossip {
  readonly stats: UsageGossipStats = { messagesOut: 0, bytesOut: 0, capped: 0, messagesIn: 0, malformed: 0, charged: 0, resyncs: 0 };
  private readonly boot = (Math.random() * 0x100000000) >>> 0;
  private readonly origin: Uint8Array;
  private readonly writer = new UsageWriter(MESSAGE_MAX_BYTES);
  private readonly byId = new Map<number, Limit>();
  private readonly origins = new Map<string, Origin>();
  private nextOrigin = 0;
  private budget: number;
  private budgetAt: number;
  private heartbeatAt = -Infinity;
  private nextLimit = 0;
  private sends = 4;
  private readonly now: () => number;

  constructor(private readonly o: UsageGossipOptions) {
    this.origin = originBytes(o.nodeName);
    for (const l of o.limits) if (l.cluster) this.byId.set(l.id, l);
    this.now = o.now ?? (() => performance.now());
    this.budget = o.bytesPerS;
    this.budgetAt = this.now();
  }

  get type(): number {
    return this.o.type;
  }

  /** Whether any limit is counted cluster-wide (else nothing is ever sent). */
  get active(): boolean {
    return this.byId.size > 0;
  }

  /** This node admitted `n` more requests in this bucket. */
  local(e: Entry, n: number): void {
    e.cum += n;
    if (!e.limit.cluster) return;
    if (e.sendsLeft === 0 && !e.evicted) e.limit.pending.push(e);
    e.sendsLeft = this.sends;
  }

  /** Pulls fresh admissions in, each to be sent 4·⌈log10(n+1)⌉ times (memberlist's retransmit rule). */
  private pull(): void {
    this.sends = 4 * Math.max(1, Math.ceil(Math.log10(this.o.members() + 1)));
    this.o.pull?.();
  }

  /** Messages for one gossip packet, `room` bytes in all (type byte included). */
  broadcasts(room: number): Uint8Array[] {
    if (!this.active) return [];
    this.pull();
    const now = this.now();
    this.budget = Math.min(this.o.bytesPerS, this.budget + ((now - this.budgetAt) * this.o.bytesPerS) / 1000);
    this.budgetAt = now;
    const max = Math.min(room, this.budget, MESSAGE_MAX_BYTES);
    const w = this.writer;
    w.begin(this.o.type, this.boot, this.origin);
    if (max < w.length + SECTION_HEADER_BYTES + MAX_ENTRY_BYTES) {
      if (max < room) this.stats.capped++;
      return [];
    }
    const wrote = this.fill(w, max, now);
    if (wrote === 0) {
      // A heartbeat goes to every target of one gossip round (they are asked within the same moment).
      if (now - this.heartbeatAt >= this.o.heartbeatMs) this.heartbeatAt = now;
      else if (now - this.heartbeatAt > HEARTBEAT_ROUND_MS) return [];
    }
    const msg = w.finish();
    this.budget -= msg.length;
    this.stats.messagesOut++;
    this.stats.bytesOut += msg.length;
    return [msg];
  }

  /** Pending counts, limit by limit (starting one further each time), each bucket round-robin. */
  private fill(w: UsageWriter, max: number, now: number): number {
    const limits = this.o.limits;
    let wrote = 0;
    for (let k = 0; k < limits.length; k++) {
      const l = limits[(this.nextLimit + k) % limits.length]!;
      if (!l.cluster || l.pending.length === 0) continue;
      if (max - w.length < SECTION_HEADER_BYTES + MAX_ENTRY_BYTES) break;
      w.section(l.id);
      const p = l.pending;
      // Each bucket at most once per message.
      for (let visits = p.length; visits > 0 && p.length > 0 && max - w.length >= MAX_ENTRY_BYTES && w.inSection < 0xffff; visits--) {
        if (l.cursor >= p.length) l.cursor = 0;
        const e = p[l.cursor]!;
        if (!e.evicted && e.sendsLeft > 0) {
          w.entry(e.hash, e.cum, now - e.admittedAt);
          wrote++;
          if (--e.sendsLeft > 0) {
            l.cursor++;
            continue;
          }
        }
        e.sendsLeft = 0;
        p[l.cursor] = p[p.length - 1]!;
        p.pop();
      }
    }
    this.nextLimit = (this.nextLimit + 1) % limits.length;
    return wrote;
  }

  /** A user message of ours arrived (type byte stripped). Malformed ones are dropped and counted. */
  receive(msg: Uint8Array): void {
    this.stats.messagesIn++;
    const now = this.now();
    let from: Origin | undefined;
    try {
      decodeUsage(
        msg,
        (h) => {
          if (h.origin === this.o.nodeName) return false;
          from = this.heard(h.origin, h.boot, now);
          return true;
        },
        (id, hash, cum, ageMs) => this.apply(from!, id, hash, cum, now, ageMs),
      );
    } catch {
      this.stats.malformed++;
    }
  }

  /** Every bucket this node has counted in (most recently used first, up to 256 KiB): push/pull state. */
  state(): Uint8Array {
    if (!this.active) return new Uint8Array(0);
    this.pull();
    const byLimit = new Map<Limit, Entry[]>();
    let bytes = 0;
    for (const e of this.o.table.recent()) {
      if (e.cum === 0 || !e.limit.cluster) continue;
      if ((bytes += MAX_ENTRY_BYTES) > STATE_MAX_BYTES) break;
      let list = byLimit.get(e.limit);
      if (!list) byLimit.set(e.limit, (list = []));
      list.push(e);
    }
    const w = new UsageWriter(STATE_MAX_BYTES + 512 + byLimit.size * 4 * SECTION_HEADER_BYTES);
    const now = this.now();
    w.begin(null, this.boot, this.origin);
    for (const [l, list] of byLimit) {
      for (let i = 0; i < list.length; i++) {
        if (i % 0xffff === 0) w.section(l.id);
        w.entry(list[i]!.hash, list[i]!.cum, now - list[i]!.admittedAt);
      }
    }
    return w.finish();
  }

  /** Another origin's state from a push/pull (type byte stripped). */
  mergeState(state: Uint8Array): void {
    this.receive(state);
  }

  private heard(name: string, boot: number, now: number): Origin {
    let o = this.origins.get(name);
    if (o === undefined || o.boot !== boot) {
      // New, or restarted: its counts start from zero.
      o = { id: this.nextOrigin++, boot, epoch: 0, lastHeard: now };
      this.origins.set(name, o);
    } else if (now - o.lastHeard > this.o.silentMs) {
      o.epoch++;
      this.stats.resyncs++;
    }
    o.lastHeard = now;
    return o;
  }

  /**
   * Charges the admissions `from` made in this bucket since we last heard: the difference of counts.
   * First report: at most a full bucket and a second of rate. After a silence: nothing (a new start).
   * A smaller count than before is a reordered packet: ignored.
   */
  private apply(from: Origin, id: number, hash: number, cum: number, now: number, ageMs: number): void {
    const l = this.byId.get(id);
    if (l === undefined) return;
    const e = this.o.table.remote(l, hash, now);
    const slots = (e.slots ??= []);
    let delta = 0;
    const s = slots.find((x) => x.origin === from.id);
    if (s === undefined) {
      delta = Math.min(cum, l.firstReportCap);
      slots.push({ origin: from.id, epoch: from.epoch, cum });
    } else {
      if (s.epoch === from.epoch && cum > s.cum) delta = cum - s.cum;
      if (s.epoch !== from.epoch || cum > s.cum) s.cum = cum;
      s.epoch = from.epoch;
    }
    if (delta > 0) {
      this.stats.charged += delta;
      this.o.sink.charge(e, delta, now, ageMs + TRANSIT_MS);
    }
  }
}
