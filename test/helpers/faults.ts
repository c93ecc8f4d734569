// Network faults for tests, as a wrapper of the gossip engine's Transport: packet loss, added delay,
// one-way loss, partitions, slow connects. The kernels we test on have no netem, so the faults are
// injected here, between the engine and its sockets. setFaults() changes them for every FaultyTransport
// in this process; node processes get them through the test entry point (faultynode.ts).

import { type Endpoint, NetTransport, type NetTransportOptions, type Stream, StreamError, type Transport, type TransportHandler } from "../../src/cluster/index.ts";
import { formatHostPort } from "../../src/netutil.ts";

export const FAULTS_ENV = "CLUSTERCLUB_TEST_FAULTS";

/** TCP's initial retransmission timeout (RFC 6298): what a lost SYN costs a connect. */
export const SYN_RTO_MS = 1000;

export interface FaultSpec {
  /** Probability (0–1) that an outbound UDP packet is lost. Set on every node: every direction of every link is lossy. */
  lossOut?: number;
  /** Probability (0–1) that an inbound UDP packet is lost. */
  lossIn?: number;
  /** Outbound UDP packets leave this many ms late … */
  delayMs?: number;
  /** … plus a uniform random [0, jitterMs) (so packets may overtake each other). */
  jitterMs?: number;
  /** Probability (0–1) that an outbound TCP connect loses its SYN and waits SYN_RTO_MS first. */
  synLoss?: number;
  /**
   * One-way loss: nothing from these addresses reaches us. UDP from them is dropped; TCP with them fails
   * both ways (a handshake needs both directions): our dials time out, their connections are closed when
   * they arrive from that address. On loopback outbound TCP leaves from 127.0.0.1, so there give the
   * other end the matching dropTo as well.
   */
  dropFrom?: string[];
  /** One-way loss: nothing we send reaches these addresses (UDP dropped; TCP both ways fails). */
  dropTo?: string[];
  /**
   * A partition: groups of addresses whose members cannot reach members of another group (UDP lost,
   * TCP fails, both ways). Decided by the transport's own bind address, so it works for several nodes in
   * one process; addresses in no group are unaffected.
   */
  partition?: string[][];
  /** Node process: SIGUSR2 blocks the event loop this long (default 3000 ms). */
  blockMs?: number;
  /** Node process: SIGUSR1 replaces the spec with this file's JSON (runtime changes from a test). */
  file?: string;
}

export class FaultSpecError extends Error {
  constructor(
    message: string,
    readonly source: string,
  ) {
    super(`${source}: ${message}`);
    this.name = "FaultSpecError";
  }
}

/** Counts of what the faults did (in this process), for tests. */
export interface FaultStats {
  droppedOut: number;
  droppedIn: number;
  delayed: number;
  slowConnects: number;
  refusedStreams: number;
  failedDials: number;
}

function stripMapped(address: string): string {
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}

export class Faults {
  /** Nothing else is consulted while this is false. */
  enabled = false;
  readonly stats: FaultStats = { droppedOut: 0, droppedIn: 0, delayed: 0, slowConnects: 0, refusedStreams: 0, failedDials: 0 };
  private spec: FaultSpec = {};
  private from = new Set<string>();
  private to = new Set<string>();
  /** Address → index of its partition group. */
  private group = new Map<string, number>();

  get current(): Readonly<FaultSpec> {
    return this.spec;
  }

  set(spec: FaultSpec | null): void {
    this.spec = spec ? { ...spec } : {};
    this.from = new Set((spec?.dropFrom ?? []).map(stripMapped));
    this.to = new Set((spec?.dropTo ?? []).map(stripMapped));
    this.group = new Map((spec?.partition ?? []).flatMap((g, i) => g.map((a) => [stripMapped(a), i] as const)));
    const s = this.spec;
    this.enabled = Boolean(
      (s.lossOut ?? 0) > 0 || (s.lossIn ?? 0) > 0 || (s.delayMs ?? 0) > 0 || (s.jitterMs ?? 0) > 0 || (s.synLoss ?? 0) > 0 || this.from.size > 0 || this.to.size > 0 || this.group.size > 0,
    );
  }

  /** Whether `local` and `remote` are on different sides of the partition. */
  private split(local: string, remote: string): boolean {
    if (this.group.size === 0) return false;
    const a = this.group.get(stripMapped(local));
    const b = this.group.get(stripMapped(remote));
    return a !== undefined && b !== undefined && a !== b;
  }

  /** Outbound UDP from `local` to `address`: -1 = lost, 0 = send now, > 0 = send after that many ms. */
  outbound(local: string, address: string): number {
    const s = this.spec;
    if (this.to.has(stripMapped(address)) || this.split(local, address) || ((s.lossOut ?? 0) > 0 && Math.random() < s.lossOut!)) {
      this.stats.droppedOut++;
      return -1;
    }
    const delay = (s.delayMs ?? 0) + ((s.jitterMs ?? 0) > 0 ? Math.random() * s.jitterMs! : 0);
    if (delay > 0) this.stats.delayed++;
    return delay;
  }

  /** Inbound UDP at `local` from `address`: true = lost. */
  inboundLost(local: string, address: string): boolean {
    const s = this.spec;
    if (this.from.has(stripMapped(address)) || this.split(local, address) || ((s.lossIn ?? 0) > 0 && Math.random() < s.lossIn!)) {
      this.stats.droppedIn++;
      return true;
    }
    return false;
  }

  /** TCP dial from `local` to `address`: -1 = never connects (times out), else ms to wait before connecting. */
  dial(local: string, address: string): number {
    const a = stripMapped(address);
    if (this.to.has(a) || this.from.has(a) || this.split(local, a)) {
      this.stats.failedDials++;
      return -1;
    }
    const p = this.spec.synLoss ?? 0;
    if (p > 0 && Math.random() < p) {
      this.stats.slowConnects++;
      return SYN_RTO_MS;
    }
    return 0;
  }

  /** Accepted TCP connection from `address`: true = the handshake could not have completed; drop it. */
  refuseStream(address: string): boolean {
    const a = stripMapped(address);
    if (this.to.has(a) || this.from.has(a)) {
      this.stats.refusedStreams++;
      return true;
    }
    return false;
  }
}

/** Process-wide fault state, consulted by every FaultyTransport unless it was given its own. */
export const faults = new Faults();

/** Turns faults on (a spec with any active fault) or off (null / an empty spec). Test processes only. */
export function setFaults(spec: FaultSpec | null): void {
  faults.set(spec === null ? null : validateFaultSpec(spec, "setFaults"));
}

function probability(v: unknown, key: string, source: string): void {
  if (v === undefined) return;
  if (typeof v !== "number" || !(v >= 0 && v <= 1)) throw new FaultSpecError(`${key} must be a number in [0, 1], got ${JSON.stringify(v)}`, source);
}

function nonNegative(v: unknown, key: string, source: string): void {
  if (v === undefined) return;
  if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v)) throw new FaultSpecError(`${key} must be a number ≥ 0, got ${JSON.stringify(v)}`, source);
}

function addresses(v: unknown, key: string, source: string): void {
  if (v === undefined) return;
  if (!Array.isArray(v) || !v.every((a) => typeof a === "string" && a !== "")) throw new FaultSpecError(`${key} must be a list of IP addresses`, source);
}

const KEYS = new Set(["lossOut", "lossIn", "delayMs", "jitterMs", "synLoss", "dropFrom", "dropTo", "partition", "blockMs", "file"]);

export function validateFaultSpec(raw: unknown, source: string): FaultSpec {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new FaultSpecError("must be a JSON object", source);
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.has(k)) throw new FaultSpecError(`unknown key ${k}`, source);
  probability(o.lossOut, "lossOut", source);
  probability(o.lossIn, "lossIn", source);
  probability(o.synLoss, "synLoss", source);
  nonNegative(o.delayMs, "delayMs", source);
  nonNegative(o.jitterMs, "jitterMs", source);
  nonNegative(o.blockMs, "blockMs", source);
  addresses(o.dropFrom, "dropFrom", source);
  addresses(o.dropTo, "dropTo", source);
  if (o.partition !== undefined) {
    if (!Array.isArray(o.partition)) throw new FaultSpecError("partition must be a list of address groups", source);
    o.partition.forEach((g, i) => addresses(g, `partition[${i}]`, source));
  }
  if (o.file !== undefined && (typeof o.file !== "string" || o.file === "")) throw new FaultSpecError("file must be a path", source);
  return o as FaultSpec;
}

export function parseFaultSpec(json: string, source: string): FaultSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new FaultSpecError(`not JSON: ${e instanceof Error ? e.message : String(e)}`, source);
  }
  return validateFaultSpec(raw, source);
}

/** Spins the event loop for `ms` (a stalled process: GC pause, overloaded host, stopped VM). */
export function blockEventLoop(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy: nothing else in this process runs
  }
}

/** A Transport whose traffic passes through `faults`; decisions use the inner transport's bind address. */
export class FaultyTransport implements Transport {
  constructor(
    private readonly inner: Transport,
    private readonly f: Faults = faults,
  ) {}

  get bindAddress(): string {
    return this.inner.bindAddress;
  }

  get port(): number {
    return this.inner.port;
  }

  start(handler: TransportHandler): void {
    const local = this.inner.bindAddress;
    this.inner.start({
      packet: (buf, from) => {
        if (this.f.enabled && this.f.inboundLost(local, from.address)) return;
        handler.packet(buf, from);
      },
      stream: (conn) => {
        // One from a peer we cannot exchange packets with never completed its handshake.
        if (this.f.enabled && this.f.refuseStream(conn.remoteAddress)) return conn.close();
        handler.stream(conn);
      },
    });
  }

  sendPacket(buf: Uint8Array, to: Endpoint): boolean {
    if (!this.f.enabled) return this.inner.sendPacket(buf, to);
    const delay = this.f.outbound(this.inner.bindAddress, to.address);
    // A packet lost on the wire looks sent to its sender.
    if (delay < 0) return true;
    if (delay === 0) return this.inner.sendPacket(buf, to);
    const copy = buf.slice();
    setTimeout(() => this.inner.sendPacket(copy, to), delay);
    return true;
  }

  /** Waits out a lost SYN, or the whole timeout when the peer is unreachable. */
  async dial(to: Endpoint, timeoutMs: number): Promise<Stream> {
    if (!this.f.enabled) return this.inner.dial(to, timeoutMs);
    const wait = this.f.dial(this.inner.bindAddress, to.address);
    if (wait < 0 || wait >= timeoutMs) {
      await Bun.sleep(timeoutMs);
      throw new StreamError("timeout", `connect timed out after ${timeoutMs} ms`, formatHostPort(to.address, to.port));
    }
    if (wait > 0) await Bun.sleep(wait);
    return this.inner.dial(to, timeoutMs - wait);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The engine's socket transport behind the process-wide faults: a drop-in for NodeOptions.gossipTransport. */
export async function faultyNetTransport(bind: NetTransportOptions): Promise<Transport> {
  return new FaultyTransport(await NetTransport.bind(bind));
}
