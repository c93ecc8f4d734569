// Many real gossip engines in this one process, each on its own real NetTransport (a UDP socket and a
// TCP listener on 127.0.0.1, port 0), encrypted, on the wall clock and the process-wide timing wheel:
// what the simulator runs, minus the simulation. Every member event of every engine is counted by
// (observer, subject), so join convergence, detection and false positives are read off the events.
// Used by bench/gossip/inprocess.ts (one cluster per child process) and its harness test.

import { type Member, Memberlist, type MemberlistTimings, NetTransport, type Transport } from "../../src/cluster/index.ts";
import { createLogger } from "../../src/log.ts";

export interface EngineClusterOptions {
  /** Timings for every engine (LAN defaults fill the gaps). */
  timings: Partial<MemberlistTimings>;
  /** The cluster key, as `[cluster] shared_key` gives it to production nodes. */
  key: Uint8Array;
}

/** Resolves once `cond()` holds (checked after every member event), or rejects after `timeoutMs`. */
interface Waiter {
  cond: () => boolean;
  resolve: () => void;
}

export class EngineCluster {
  readonly engines: (Memberlist | null)[] = [];
  /** knows[s]: live engines (s itself included) that have s alive or suspect. */
  private knows: number[] = [];
  /** seen[o]: the members engine o has alive or suspect. */
  private readonly seen: Set<number>[] = [];
  /** deadTo[s]: live engines that marked s dead. */
  private deadTo: number[] = [];
  private readonly index = new Map<string, number>();
  private readonly crashed = new Set<number>();
  private waiters: Waiter[] = [];
  /** UDP bytes each engine sent, counted at the transport (the engine's bytesOut adds streams). */
  private readonly udpBytes: number[] = [];
  private firstSuspect = new Map<number, number>();
  /** Live members marked dead, and marked suspect, by a live engine since countFrom(). */
  falsePositives = 0;
  falseSuspicions = 0;
  private falseFrom = Infinity;

  constructor(private readonly opts: EngineClusterOptions) {}

  get size(): number {
    return this.engines.length;
  }

  get live(): Memberlist[] {
    return this.engines.filter((e): e is Memberlist => e !== null);
  }

  /** Engines that know `i` (alive or suspect), itself included. */
  knownBy(i: number): number {
    return this.knows[i] ?? 0;
  }

  /** Starts one engine (not yet joined); returns its index. */
  async add(): Promise<number> {
    const i = this.engines.length;
    const name = `n-${i}`;
    this.index.set(name, i);
    this.knows.push(0);
    this.seen.push(new Set());
    this.deadTo.push(0);
    this.udpBytes.push(0);
    this.engines.push(null);
    const net = await NetTransport.bind({ bindAddress: "127.0.0.1", bindPort: 0, logger: createLogger("transport") });
    const ml = await Memberlist.create({
      ...this.opts.timings,
      name,
      transport: this.counted(net, i),
      advertiseAddress: "127.0.0.1",
      peers: [],
      secrets: { primary: `base64:${Buffer.from(this.opts.key).toString("base64")}` },
      events: {
        notifyJoin: (m) => this.event(i, "join", m),
        notifyLeave: (m) => this.event(i, "leave", m),
        notifyUpdate: (m) => this.event(i, "update", m),
      },
    });
    this.engines[i] = ml;
    return i;
  }

  /** Engine `i` joins through engine `seed` (one push/pull, as a node does with its configured peers). */
  async join(i: number, seed: number): Promise<void> {
    const s = this.engine(seed);
    await this.engine(i).join([`127.0.0.1:${s.port}`]);
  }

  /** Every live engine knows every live engine. */
  converged(): boolean {
    const n = this.engines.length - this.crashed.size;
    for (let s = 0; s < this.engines.length; s++) if (!this.crashed.has(s) && this.knows[s] !== n) return false;
    return true;
  }

  /** Resolves when `cond()` holds; it is checked now and after every member event. */
  until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        cond,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`${what}: not within ${timeoutMs} ms (live engines knowing each member: ${this.knows.join(" ")})`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** From now on, a live member marked dead (or suspect) by a live engine counts as a false positive. */
  countFalseFrom(): void {
    this.falseFrom = performance.now();
  }

  /** Stops engine `i` without a leave, as a crash would: its sockets close, nobody is told. */
  async crash(i: number): Promise<void> {
    const e = this.engine(i);
    this.crashed.add(i);
    this.engines[i] = null;
    // what it knew no longer counts
    for (const s of this.seen[i]!) this.knows[s]!--;
    this.seen[i]!.clear();
    await e.shutdown();
  }

  /** performance.now() of the first suspicion of `i` by a live engine, if any. */
  suspectedAt(i: number): number | undefined {
    return this.firstSuspect.get(i);
  }

  /** Live engines that marked `i` dead. */
  deadCount(i: number): number {
    return this.deadTo[i] ?? 0;
  }

  /** Sent so far by the live engines: UDP packets and their bytes, stream (TCP) bytes. */
  traffic(): { packets: number; udpBytes: number; streamBytes: number } {
    let packets = 0;
    let udpBytes = 0;
    let streamBytes = 0;
    this.engines.forEach((e, i) => {
      if (!e) return;
      const m = e.metrics();
      packets += m.packetsOut;
      udpBytes += this.udpBytes[i]!;
      streamBytes += m.bytesOut - this.udpBytes[i]!;
    });
    return { packets, udpBytes, streamBytes };
  }

  /** The real transport, with its datagram bytes counted. */
  private counted(net: NetTransport, i: number): Transport {
    return {
      bindAddress: net.bindAddress,
      port: net.port,
      start: (h) => net.start(h),
      sendPacket: (buf, to) => {
        this.udpBytes[i]! += buf.length;
        return net.sendPacket(buf, to);
      },
      dial: (to, ms) => net.dial(to, ms),
      close: () => net.close(),
    };
  }

  async shutdown(): Promise<void> {
    const all = this.live;
    this.engines.fill(null);
    await Promise.all(all.map((e) => e.shutdown()));
  }

  private engine(i: number): Memberlist {
    const e = this.engines[i];
    if (!e) throw new Error(`engine ${i} is not running`);
    return e;
  }

  private event(observer: number, kind: "join" | "leave" | "update", m: Member): void {
    const s = this.index.get(m.name);
    if (s === undefined || this.crashed.has(observer)) return;
    if (kind === "join") {
      this.knows[s]!++;
      this.seen[observer]!.add(s);
    } else if (kind === "leave") {
      this.knows[s]!--;
      this.seen[observer]!.delete(s);
      if (m.state === "dead") {
        this.deadTo[s]!++;
        if (!this.crashed.has(s) && performance.now() >= this.falseFrom) this.falsePositives++;
      }
    } else if (m.state === "suspect") {
      if (this.crashed.has(s)) {
        if (!this.firstSuspect.has(s)) this.firstSuspect.set(s, performance.now());
      } else if (performance.now() >= this.falseFrom) this.falseSuspicions++;
    }
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      if (!w.cond()) return true;
      w.resolve();
      return false;
    });
  }
}

/** Event-loop lag: a 10 ms interval timer's lateness, sampled until stopped. */
export function lagProbe(everyMs = 10): { stop(): { p99: number; max: number; samples: number } } {
  const late: number[] = [];
  let last = performance.now();
  const t = setInterval(() => {
    const now = performance.now();
    late.push(Math.max(0, now - last - everyMs));
    last = now;
  }, everyMs);
  return {
    stop() {
      clearInterval(t);
      const s = late.sort((a, b) => a - b);
      return { p99: s.length ? s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]! : NaN, max: s.length ? s[s.length - 1]! : NaN, samples: s.length };
    },
  };
}
