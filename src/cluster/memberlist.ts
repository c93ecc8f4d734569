// Public facade of the gossip engine: a memberlist-compatible (hashicorp/memberlist 0.2.2) node.
// Wires transport → packet/stream plumbing → state rules, runs the probe, gossip, push/pull and
// rejoin loops on the timing wheel, and hands the application's bytes and member events to its delegates.

import { createLogger, type Logger } from "../log.ts";
import { wheel as sharedWheel, type Timeout, type TimingWheel } from "../timer/wheel.ts";
import { formatHostPort, ipToBytes } from "../netutil.ts";
import { AddressError, chooseAdvertiseAddress } from "./address.ts";
import { Awareness } from "./awareness.ts";
import { completeDelegate, type Delegate, type EventDelegate } from "./delegate.ts";
import { Joiner, JoinError } from "./join.ts";
import type { Alive, Dead, IpBytes, Message, Suspect } from "./messages.ts";
import { MessageType, OUR_VSN, WireError } from "./messages.ts";
import type { MemberStore } from "./members.ts";
import { GossipCounters, type GossipMetrics } from "./metrics.ts";
import { PacketNet } from "./net.ts";
import { Prober } from "./probe.ts";
import { pushPullScaleMs, StreamPeer } from "./pushpull.ts";
import { FailedMembers } from "./reconnect.ts";
import { TransmitLimitedQueue } from "./queue.ts";
import { Keyring, secretToKey } from "./security.ts";
import { IncompatibleVersionError, kRandomNodes, type MemberState, type NodeState, StateTable, type StateEventKind } from "./state.ts";
import { NetTransport } from "./nettransport.ts";
import { writeStreamMessage } from "./net.ts";
import { type Endpoint, type Stream, StreamError, type Transport } from "./transport.ts";

export type { MemberState } from "./state.ts";

/** memberlist's limit on node metadata. */
export const META_MAX_SIZE = 512;

export interface MemberlistTimings {
  probeIntervalMs: number;
  probeTimeoutMs: number;
  gossipIntervalMs: number;
  gossipNodes: number;
  suspicionMult: number;
  suspicionMaxTimeoutMult: number;
  retransmitMult: number;
  indirectChecks: number;
  pushPullIntervalMs: number;
  gossipToTheDeadMs: number;
  tcpTimeoutMs: number;
  awarenessMaxMultiplier: number;
  /** Cap of the backoff between join attempts while the node is alone. */
  joinRetryMaxMs: number;
  /**
   * How long a member declared dead is still tried (one push/pull with one of them per push/pull round),
   * so the halves of a partition find each other again. 0 = never (plain memberlist behaviour).
   */
  reconnectTimeoutMs: number;
}

export interface MemberlistOptions extends MemberlistTimings {
  /** Stable node name, unique in the cluster. */
  name: string;
  /** Where the default transport binds (ignored with `transport`). Default 0.0.0.0. */
  bindAddress?: string;
  /** 0 = any free port (tests). Default 7946; ignored with `transport`. */
  bindPort?: number;
  /** The network; default a NetTransport (UDP + TCP sockets) on bindAddress:bindPort. Shut down with the engine. */
  transport?: Transport;
  /** Address other nodes should use; default: a specific bindAddress, else the first non-loopback interface, else 127.0.0.1. */
  advertiseAddress?: string;
  advertisePort?: number;
  /** Absent = no encryption. `base64:<16|24|32 bytes>` raw keys, or passphrases (see security.ts). */
  secrets?: { primary: string; extra?: string[] };
  /** Seeds: "ip:port", "host:port" (all addresses of host), or a bare host (our port). */
  peers: string[];
  /** The application's metadata, messages and push/pull state; left-out methods carry nothing. */
  delegate?: Partial<Delegate>;
  /** Membership changes for the application. */
  events?: Partial<EventDelegate>;
  logger?: Logger;
  /** Timer wheel to use (default: the process-wide one). Give it the same clock as `clock`. */
  wheel?: TimingWheel;
  /** Monotonic clock in ms for every timestamp the engine takes (default performance.now). */
  clock?: () => number;
  /** Uniform [0, 1) source for every random choice the engine makes (default Math.random); seed it to replay. */
  random?: () => number;
  /**
   * Lifeguard (Dadgar et al. 2018), default true: local health awareness stretches our probes when we
   * look unhealthy, and suspicion timeouts start long and shrink as peers confirm. false: plain SWIM
   * (fixed suspicion timeout of the minimum, no awareness), to measure what Lifeguard buys.
   */
  lifeguard?: boolean;
  /**
   * Where the member table lives (default: a Map of objects of its own). One engine per store; a
   * simulator running thousands of engines gives each a compact one.
   */
  store?: MemberStore;
}

/** Options with every timing optional (LAN defaults fill the gaps). */
export type MemberlistInit = Omit<MemberlistOptions, keyof MemberlistTimings> & Partial<MemberlistTimings>;

/** memberlist's DefaultLANConfig. */
export const LAN_DEFAULTS: Readonly<MemberlistTimings> = Object.freeze({
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  retransmitMult: 4,
  indirectChecks: 3,
  pushPullIntervalMs: 30_000,
  gossipToTheDeadMs: 30_000,
  tcpTimeoutMs: 10_000,
  awarenessMaxMultiplier: 8,
  joinRetryMaxMs: 30_000,
  reconnectTimeoutMs: 24 * 3600_000,
});

export interface Member {
  name: string;
  address: string;
  port: number;
  state: MemberState;
  incarnation: number;
  meta: Uint8Array;
  /** Wall-clock ms (epoch) of the last state change. */
  stateChangedAt: number;
}

export class MemberlistError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MemberlistError";
  }
}

/** Default monotonic clock for all internal timing (the wheel's default clock). */
const monotonic = () => performance.now();

function toMember(n: NodeState): Member {
  return {
    name: n.name,
    address: n.address,
    port: n.port,
    state: n.state,
    incarnation: n.incarnation,
    meta: n.meta,
    stateChangedAt: Math.round(performance.timeOrigin + n.stateChangedAt),
  };
}

function checkOptions(o: MemberlistOptions): void {
  if (!o.name) throw new MemberlistError("node name must not be empty");
  const positive: (keyof MemberlistTimings)[] = ["probeIntervalMs", "probeTimeoutMs", "gossipIntervalMs", "suspicionMult", "suspicionMaxTimeoutMult", "retransmitMult", "tcpTimeoutMs", "awarenessMaxMultiplier", "joinRetryMaxMs"];
  for (const k of positive) {
    if (!(o[k] > 0)) throw new MemberlistError(`${k} must be > 0, got ${o[k]}`);
  }
  for (const k of ["gossipNodes", "indirectChecks", "pushPullIntervalMs", "gossipToTheDeadMs", "reconnectTimeoutMs"] as const) {
    if (!(o[k] >= 0)) throw new MemberlistError(`${k} must be ≥ 0, got ${o[k]}`);
  }
}

export class Memberlist {
  readonly localName: string;
  /** Advertised address and port. */
  readonly address: string;
  readonly port: number;

  private readonly opts: MemberlistOptions;
  private readonly log: Logger;
  private readonly wheel: TimingWheel;
  private readonly keyring: Keyring | null;
  private readonly counters = new GossipCounters();
  private readonly awareness: Awareness;
  private readonly queue: TransmitLimitedQueue;
  private readonly table: StateTable;
  private readonly net: PacketNet;
  private readonly streams: StreamPeer;
  private readonly prober: Prober;
  private readonly joiner: Joiner;
  private readonly transport: Transport;
  private readonly selfAddr: IpBytes;
  private readonly delegate: Delegate;
  private readonly events: Partial<EventDelegate>;
  private readonly timers = new Set<Timeout>();
  private readonly failed: FailedMembers;
  private readonly now: () => number;
  private readonly random: () => number;
  private reconnecting = false;
  private running = true;
  private leaving: Promise<void> | null = null;

  /** Binds, announces itself, starts the loops and begins joining `peers` in the background. */
  static async create(init: MemberlistInit): Promise<Memberlist> {
    const opts: MemberlistOptions = { ...LAN_DEFAULTS, ...init };
    checkOptions(opts);
    const keyring = opts.secrets ? Keyring.fromSecrets(opts.secrets.primary, opts.secrets.extra ?? []) : null;
    const transport =
      opts.transport ??
      (await NetTransport.bind({
        bindAddress: opts.bindAddress ?? "0.0.0.0",
        bindPort: opts.bindPort ?? 7946,
        logger: (opts.logger ?? createLogger("cluster")).child("transport"),
      }));
    try {
      const self = new Memberlist(opts, keyring, transport, chooseAdvertiseAddress(transport.bindAddress, opts.advertiseAddress));
      transport.start({ packet: (buf, from) => self.net.handlePacket(buf, from), stream: (conn) => void self.handleStream(conn) });
      self.start();
      return self;
    } catch (err) {
      // e.g. metadata over the limit: the sockets must not outlive the failed start
      await transport.close();
      throw err;
    }
  }

  private constructor(opts: MemberlistOptions, keyring: Keyring | null, transport: Transport, advertise: string) {
    this.opts = opts;
    this.localName = opts.name;
    this.log = opts.logger ?? createLogger("cluster");
    this.wheel = opts.wheel ?? sharedWheel;
    this.keyring = keyring;
    this.transport = transport;
    this.delegate = completeDelegate(opts.delegate);
    this.events = opts.events ?? {};
    this.address = advertise;
    this.port = opts.advertisePort ?? transport.port;
    const addr = ipToBytes(advertise);
    if (!addr) throw new AddressError("advertise address must be an IP address", advertise);
    this.selfAddr = addr;
    this.now = opts.clock ?? monotonic;
    this.random = opts.random ?? Math.random;
    const lifeguard = opts.lifeguard ?? true;
    // without Lifeguard the score is pinned at 0: probes are never stretched
    this.awareness = new Awareness(lifeguard ? opts.awarenessMaxMultiplier : 1);
    this.failed = new FailedMembers(opts.reconnectTimeoutMs, this.now, this.random);
    this.queue = new TransmitLimitedQueue(() => this.table.numNodes, opts.retransmitMult);
    const broadcast = (name: string, msg: Message, onDone?: () => void) => {
      let message: Uint8Array;
      try {
        message = this.net.encode(msg);
      } catch (err) {
        this.log.error("cannot encode broadcast", { type: msg.type, err });
        onDone?.();
        return;
      }
      this.queue.queue({ name, message, finished: onDone });
    };
    this.table = new StateTable({
      localName: opts.name,
      probeIntervalMs: opts.probeIntervalMs,
      suspicionMult: opts.suspicionMult,
      suspicionMaxTimeoutMult: opts.suspicionMaxTimeoutMult,
      wheel: this.wheel,
      now: this.now,
      random: this.random,
      lifeguard,
      store: opts.store,
      awareness: this.awareness,
      counters: this.counters,
      logger: this.log.child("state"),
      broadcaster: {
        alive: (a: Alive, onDone) => broadcast(a.node, { type: "alive", body: a }, onDone),
        suspect: (s: Suspect) => broadcast(s.node, { type: "suspect", body: s }),
        dead: (d: Dead, onDone) => broadcast(d.node, { type: "dead", body: d }, onDone),
      },
      onEvent: (kind, n) => {
        this.trackFailed(kind, n);
        this.emit(kind, n);
      },
    });
    this.net = new PacketNet({
      keyring,
      counters: this.counters,
      broadcasts: (overhead, limit) => this.getBroadcasts(overhead, limit),
      logger: this.log.child("net"),
      send: (buf, to) => transport.sendPacket(buf, to),
      onMessage: (msg, from) => this.handleMessage(msg, from),
    });
    this.streams = new StreamPeer({
      table: this.table,
      keyring,
      counters: this.counters,
      logger: this.log.child("stream"),
      tcpTimeoutMs: opts.tcpTimeoutMs,
      localPort: transport.port,
      dial: (to, timeoutMs) => transport.dial(to, timeoutMs),
      localState: (join) => this.delegate.localState(join),
      mergeRemoteState: (state, join) => this.delegate.mergeRemoteState(state, join),
    });
    this.prober = new Prober({
      config: opts,
      localName: opts.name,
      self: () => ({ addr: this.selfAddr, port: this.port }),
      table: this.table,
      net: this.net,
      awareness: this.awareness,
      wheel: this.wheel,
      now: this.now,
      random: this.random,
      counters: this.counters,
      logger: this.log.child("probe"),
      tcpPing: (to, ping, timeoutMs) => this.streams.tcpPing(to, ping, timeoutMs),
    });
    this.joiner = new Joiner({
      localName: opts.name,
      defaultPort: this.port,
      isSelf: (ep) => ep.port === this.port && (ep.address === this.address || ep.address === transport.bindAddress),
      pushPull: (to, join) => this.streams.pushPullNode(to, join),
      alone: () => !this.table.anyOther((n) => n.state === "alive" || n.state === "suspect"),
      wheel: this.wheel,
      random: this.random,
      logger: this.log.child("join"),
      retryMaxMs: opts.joinRetryMaxMs,
      retryMinMs: Math.min(Math.max(opts.probeIntervalMs, 100), opts.joinRetryMaxMs),
    });
  }

  private start(): void {
    this.table.setLocalAlive(this.selfAddr, this.port, this.localMeta(), OUR_VSN);
    this.log.info("memberlist started", { name: this.localName, address: formatHostPort(this.address, this.port), encrypted: this.keyring !== null });
    this.every(this.opts.gossipIntervalMs, () => this.opts.gossipIntervalMs, () => this.gossip());
    this.every(this.opts.probeIntervalMs, () => this.opts.probeIntervalMs, () => this.prober.probe());
    if (this.opts.pushPullIntervalMs > 0) {
      this.every(this.opts.pushPullIntervalMs, () => pushPullScaleMs(this.opts.pushPullIntervalMs, this.table.numNodes), () => this.periodicPushPull());
    }
    this.joiner.start(this.opts.peers);
  }

  /**
   * Runs `fn` repeatedly, like Go's ticker: first after a random stagger in [0, stagger), then every
   * `period()` on a fixed schedule, so a timer that fires late (the wheel's tick, a busy event loop)
   * does not push back every later run; a run that overran goes again at once and the missed ticks
   * are dropped. Exceptions are logged, never fatal.
   */
  private every(stagger: number, period: () => number, fn: () => unknown): void {
    let due = this.now() + this.random() * stagger;
    const run = async () => {
      if (!this.running) return;
      try {
        await fn();
      } catch (err) {
        this.log.error("periodic task failed", { err });
      }
      if (!this.running) return;
      const now = this.now();
      due += period();
      if (due < now) due = now;
      arm(due - now);
    };
    const arm = (ms: number) => {
      const t = this.wheel.schedule(ms, () => {
        this.timers.delete(t);
        void run();
      });
      this.timers.add(t);
    };
    arm(due - this.now());
  }

  // ---------------------------------------------------------------- public API

  /** Every known node (self included), dead and left ones until they are reaped. */
  members(): Member[] {
    return this.table.all().map(toMember);
  }

  /** Nodes currently alive (self included; suspect nodes are not). */
  aliveMembers(): Member[] {
    return this.table
      .all()
      .filter((n) => n.state === "alive")
      .map(toMember);
  }

  /** Re-reads our metadata from the delegate, bumps our incarnation and gossips a fresh alive (Go's UpdateNode). */
  updateNode(): void {
    if (!this.running) throw new MemberlistError("updateNode after shutdown");
    if (this.table.leaving) throw new MemberlistError("updateNode after leave");
    this.table.setLocalAlive(this.selfAddr, this.port, this.localMeta(), OUR_VSN);
  }

  /** A user message to one node in one packet (Go's SendBestEffort): it may be lost. */
  sendBestEffort(to: Endpoint, msg: Uint8Array): boolean {
    if (!this.running) throw new MemberlistError("send after shutdown");
    this.counters.msgOut("user");
    return this.net.sendRaw(to, encodeUser(msg));
  }

  /** A user message to one node over a stream (Go's SendReliable); rejects when it could not be sent. */
  async sendReliable(to: Endpoint, msg: Uint8Array): Promise<void> {
    if (!this.running) throw new MemberlistError("send after shutdown");
    const conn = await this.transport.dial(to, this.opts.tcpTimeoutMs);
    this.counters.streamsOut++;
    try {
      this.counters.bytesOut += writeStreamMessage(conn, { type: "user", body: msg }, this.keyring);
      this.counters.msgOut("user");
    } finally {
      conn.end();
    }
  }

  /**
   * Push/pull with every address of `seeds` (default: the configured peers) now.
   * Resolves with the number of successful exchanges; rejects with JoinError if there were none.
   */
  async join(seeds: string[] = this.opts.peers): Promise<number> {
    if (!this.running) throw new MemberlistError("join after shutdown");
    const { joined, errors } = await this.joiner.joinOnce(seeds);
    if (joined === 0) throw new JoinError(seeds, errors);
    return joined;
  }

  /** Replaces the seed list the node retries while it is alone (configuration reload). */
  setPeers(peers: string[]): void {
    this.opts.peers = [...peers];
    this.joiner.setSeeds(peers);
  }

  /**
   * Key rotation without a restart: `primary` encrypts from now on, it and every `extra` key decrypt.
   * Returns false when the node was started without encryption (turning it on needs a restart).
   */
  setKeys(primary: string, extra: string[] = []): boolean {
    if (!this.keyring) return false;
    this.keyring.replace(secretToKey(primary), extra.map((k) => secretToKey(k)));
    return true;
  }

  /**
   * Gossips our departure (dead from ourselves) and waits until it was sent out the retransmit
   * limit, or `timeoutMs`. Other nodes then show us as `left`. Call shutdown() afterwards.
   */
  leave(timeoutMs = 5000): Promise<void> {
    if (this.leaving) return this.leaving;
    this.leaving = new Promise<void>((resolve) => {
      let timer: Timeout | null = null;
      const done = () => {
        timer?.cancel();
        resolve();
      };
      const anyoneToTell = this.table.anyAlive();
      this.table.leave(done);
      if (!anyoneToTell) return done();
      timer = this.wheel.schedule(timeoutMs, () => {
        this.log.warn("leave broadcast not fully gossiped before the timeout", { timeoutMs });
        resolve();
      });
    });
    this.joiner.stop();
    return this.leaving;
  }

  /** Stops every loop and closes the sockets (without telling anyone: use leave() first). */
  async shutdown(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const t of this.timers) t.cancel();
    this.timers.clear();
    this.joiner.stop();
    this.prober.stop();
    this.table.stop();
    await this.transport.close();
    this.queue.reset();
    this.log.info("memberlist stopped", { name: this.localName });
  }

  healthScore(): number {
    return this.awareness.score;
  }

  metrics(): GossipMetrics {
    return this.counters.snapshot(this.awareness.score, this.table.counts());
  }

  // ---------------------------------------------------------------- internals

  /** The delegate's metadata, refused when it is over memberlist's limit (Go truncates silently). */
  private localMeta(): Uint8Array {
    const meta = this.delegate.nodeMeta(META_MAX_SIZE);
    if (meta.length > META_MAX_SIZE) throw new MemberlistError(`metadata is ${meta.length} bytes; the limit is ${META_MAX_SIZE}`);
    return meta;
  }

  /** Our queued facts first, then the application's messages in the space left (memberlist's getBroadcasts). */
  private getBroadcasts(overhead: number, limit: number): Uint8Array[] {
    const out = this.queue.getBroadcasts(overhead, limit);
    let used = 0;
    for (const b of out) used += b.length + overhead;
    const avail = limit - used;
    if (avail <= overhead + USER_MSG_OVERHEAD) return out;
    for (const m of this.delegate.getBroadcasts(overhead + USER_MSG_OVERHEAD, avail)) {
      // an empty message says nothing; Go's delegate would only see a zero-length slice
      if (m.length > 0) out.push(encodeUser(m));
    }
    return out;
  }

  private emit(kind: StateEventKind, n: NodeState): void {
    const e = this.events;
    const fn = kind === "join" ? e.notifyJoin : kind === "update" ? e.notifyUpdate : e.notifyLeave;
    if (!fn) return;
    try {
      fn.call(e, toMember(n));
    } catch (err) {
      this.log.error("member event listener threw", { event: kind, node: n.name, err });
    }
  }

  private handleMessage(msg: Message, from: Endpoint): void {
    if (!this.running) return;
    switch (msg.type) {
      case "ping":
        if (msg.body.node !== "" && msg.body.node !== this.localName) {
          this.net.drop("wrong_node", `ping for ${msg.body.node}`, from);
          return;
        }
        this.prober.handlePing(msg.body, from);
        return;
      case "indirectPing":
        this.prober.handleIndirectPing(msg.body, from, this.transport.port);
        return;
      case "ackResp":
        this.prober.handleAck(msg.body);
        return;
      case "nackResp":
        this.prober.handleNack(msg.body);
        return;
      case "alive":
        this.table.aliveNode(msg.body);
        return;
      case "suspect":
        this.table.suspectNode(msg.body);
        return;
      case "dead":
        this.table.deadNode(msg.body);
        return;
      case "user":
        this.delegate.notifyMsg(msg.body);
        return;
      default:
        this.net.drop("invalid", `${msg.type} in a packet`, from);
    }
  }

  private async handleStream(conn: Stream): Promise<void> {
    const from: Endpoint = { address: conn.remoteAddress, port: conn.remotePort };
    this.counters.streamsIn++;
    if (!this.running) {
      conn.close();
      return;
    }
    conn.setDeadline(this.opts.tcpTimeoutMs);
    let msg: Message | null;
    try {
      msg = await this.streams.receive(conn);
    } catch (err) {
      if (err instanceof WireError) {
        this.net.drop(err.reason, err, from);
        this.replyError(conn, err.message);
      } else {
        this.net.drop(err instanceof StreamError && err.kind === "timeout" ? "timeout" : "io", err, from);
        conn.close();
      }
      return;
    }
    if (!msg) {
      conn.end();
      return;
    }
    try {
      switch (msg.type) {
        case "ping":
          if (msg.body.node !== "" && msg.body.node !== this.localName) {
            this.net.drop("wrong_node", `stream ping for ${msg.body.node}`, from);
            conn.end();
            return;
          }
          this.streams.send(conn, { type: "ackResp", body: { seqNo: msg.body.seqNo, payload: null } });
          conn.end();
          return;
        case "pushPull":
          this.streams.respondPushPull(conn, msg.body);
          return;
        case "user":
          conn.end();
          this.delegate.notifyMsg(msg.body);
          return;
        default:
          this.net.drop("stream_type", `${msg.type} on a stream`, from);
          this.replyError(conn, `unexpected ${msg.type} message`);
      }
    } catch (err) {
      this.net.drop(err instanceof IncompatibleVersionError ? "incompatible" : "handler", err, from);
      conn.end();
    }
  }

  private replyError(conn: Stream, error: string): void {
    try {
      if (!conn.closed) this.streams.send(conn, { type: "err", body: { error } });
    } catch {
      // the peer is gone; nothing to tell
    }
    conn.end();
  }

  /** Gossip round: queued broadcasts to up to gossipNodes random live (or recently dead) nodes. */
  private gossip(): void {
    const now = this.now();
    const targets = kRandomNodes(this.opts.gossipNodes, this.table.list(), (n) => {
      if (n.name === this.localName) return true;
      if (n.state === "alive" || n.state === "suspect") return false;
      if (n.state === "dead") return now - n.stateChangedAt > this.opts.gossipToTheDeadMs;
      return true;
    }, this.random);
    for (const n of targets) {
      const to: Endpoint = { address: n.address, port: n.port };
      if (!this.net.gossipTo(to)) return;
    }
  }

  /** Members declared dead are remembered for reconnecting; alive again or left, they are forgotten. */
  private trackFailed(kind: StateEventKind, n: NodeState): void {
    if (n.name === this.localName) return;
    if (kind === "dead") this.failed.failed(n.name, { address: n.address, port: n.port });
    else if (kind === "leave" || n.state === "alive") this.failed.recovered(n.name);
  }

  /**
   * One push/pull with a random member declared dead, in the background (a silent peer holds the dial
   * for tcpTimeout, which must not stretch the push/pull period), at most one at a time.
   */
  private reconnect(): void {
    if (this.reconnecting || this.table.leaving) return;
    const m = this.failed.pick();
    if (!m) return;
    this.reconnecting = true;
    this.streams.pushPullNode(m.endpoint, false).then(
      () => this.log.info("reached a member that was declared dead", { node: m.name, address: formatHostPort(m.endpoint.address, m.endpoint.port) }),
      (err) => this.log.debug("reconnect to failed member failed", { node: m.name, err }),
    ).finally(() => {
      this.reconnecting = false;
    });
  }

  private async periodicPushPull(): Promise<void> {
    this.reconnect();
    const [peer] = kRandomNodes(1, this.table.list(), (n) => n.name === this.localName || n.state !== "alive", this.random);
    if (!peer) return;
    try {
      await this.streams.pushPullNode({ address: peer.address, port: peer.port }, false);
    } catch (err) {
      this.log.debug("periodic push/pull failed", { node: peer.name, err });
    }
  }
}

/** The type byte before a user message's bytes (memberlist's userMsgOverhead). */
const USER_MSG_OVERHEAD = 1;

/** A user message as it travels in a packet: `08 | bytes`, as Go frames them. */
function encodeUser(msg: Uint8Array): Uint8Array {
  const out = new Uint8Array(msg.length + USER_MSG_OVERHEAD);
  out[0] = MessageType.user;
  out.set(msg, USER_MSG_OVERHEAD);
  return out;
}
