// SWIM failure detection with Lifeguard: round-robin probes over a shuffled member list,
// direct ping → indirect pings via k peers (with nacks) + TCP fallback → suspect.
// Also the responder side: ack pings, serve indirect pings for others, route acks and nacks.

import type { Logger } from "../log.ts";
import type { Timeout, TimingWheel } from "../timer/wheel.ts";
import { bytesToIp } from "../netutil.ts";
import type { Awareness } from "./awareness.ts";
import type { AckResp, IndirectPingReq, IpBytes, NackResp, Ping } from "./messages.ts";
import type { GossipCounters } from "./metrics.ts";
import type { PacketNet } from "./net.ts";
import { kRandomNodes, type NodeState, type StateTable } from "./state.ts";
import type { Endpoint } from "./transport.ts";

export interface ProbeConfig {
  probeIntervalMs: number;
  probeTimeoutMs: number;
  indirectChecks: number;
  gossipToTheDeadMs: number;
}

export interface ProberOptions {
  config: ProbeConfig;
  localName: string;
  /** Our advertised address (raw bytes) and port, put in pings as the reply-to. */
  self: () => { addr: IpBytes; port: number };
  table: StateTable;
  net: PacketNet;
  awareness: Awareness;
  wheel: TimingWheel;
  /** Monotonic clock (ms), the wheel's. */
  now: () => number;
  /** Picks the indirect probers (default Math.random). */
  random?: () => number;
  counters: GossipCounters;
  logger: Logger;
  /** TCP ping fallback: resolves true if the node acked over a stream before the deadline. */
  tcpPing: (to: Endpoint, ping: Ping, timeoutMs: number) => Promise<boolean>;
}

interface AckHandler {
  onAck: (payload: Uint8Array | null) => void;
  onNack?: () => void;
  timer: Timeout;
}

/** Result of probing one node, for tests and metrics. */
export type ProbeOutcome = "ack" | "indirect-ack" | "tcp-ack" | "suspect" | "skipped";

export class Prober {
  private seq = 0;
  private readonly handlers = new Map<number, AckHandler>();
  private probeIndex = 0;
  private stopped = false;

  constructor(private readonly opts: ProberOptions) {}

  nextSeqNo(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  stop(): void {
    this.stopped = true;
    for (const h of this.handlers.values()) h.timer.cancel();
    this.handlers.clear();
  }

  /**
   * One probe round: the next probeable node in the shuffled order; after a full pass, reap old
   * dead/left entries and reshuffle. Resolves when the probe of that node is decided.
   */
  async probe(): Promise<ProbeOutcome> {
    const { table } = this.opts;
    let checked = 0;
    for (;;) {
      const nodes = table.list();
      if (checked >= nodes.size) return "skipped";
      if (this.probeIndex >= nodes.size) {
        const reaped = table.reapAndShuffle(this.opts.config.gossipToTheDeadMs);
        for (const n of reaped) this.opts.logger.debug("reaped node", { node: n.name, state: n.state });
        this.probeIndex = 0;
        checked++;
        continue;
      }
      const node = nodes.at(this.probeIndex++);
      if (node.name === this.opts.localName || node.state === "dead" || node.state === "left") {
        checked++;
        continue;
      }
      // a copy, as Go's probe takes one: the entry may change while the probe waits
      return this.probeNode(pick(node));
    }
  }

  /** Probes one node; on failure raises a suspicion about it. */
  async probeNode(node: NodeState): Promise<ProbeOutcome> {
    const { config, net, awareness, wheel, counters } = this.opts;
    counters.probes++;
    const interval = awareness.scaleTimeout(config.probeIntervalMs);
    const self = this.opts.self();
    const ping: Ping = { seqNo: this.nextSeqNo(), node: node.name, sourceAddr: self.addr, sourcePort: self.port, sourceNode: this.opts.localName };
    const target: Endpoint = { address: node.address, port: node.port };
    // snapshot: the table entry may change while we wait
    const incarnation = node.incarnation;
    const pMax = node.vsn[1];

    let acked = false;
    let nacks = 0;
    let wake: (() => void) | null = null;
    const ackOrTimeout = (ms: number) =>
      new Promise<void>((resolve) => {
        if (acked || this.stopped) return resolve();
        const t = wheel.schedule(ms, () => {
          wake = null;
          resolve();
        });
        wake = () => {
          t.cancel();
          wake = null;
          resolve();
        };
      });
    this.setAckHandler(
      ping.seqNo,
      {
        onAck: () => {
          acked = true;
          wake?.();
        },
        onNack: () => {
          nacks++;
        },
      },
      interval,
    );

    const start = this.opts.now();
    if (node.state === "alive") net.sendMsg(target, { type: "ping", body: ping });
    else net.sendMsgs(target, [{ type: "ping", body: ping }, { type: "suspect", body: { incarnation, node: node.name, from: this.opts.localName } }]);

    await ackOrTimeout(config.probeTimeoutMs);
    if (this.stopped) return "skipped";
    if (acked) {
      awareness.applyDelta(-1);
      return "ack";
    }

    // indirect probes through k random alive peers, and a TCP ping in parallel
    const peers = kRandomNodes(config.indirectChecks, this.opts.table.list(), (n) => n.name === this.opts.localName || n.name === node.name || n.state !== "alive", this.opts.random);
    let expectedNacks = 0;
    for (const peer of peers) {
      const nack = peer.vsn[1] >= 4;
      if (nack) expectedNacks++;
      const ind: IndirectPingReq = {
        seqNo: ping.seqNo,
        target: node.addr,
        port: node.port,
        node: node.name,
        nack,
        sourceAddr: self.addr,
        sourcePort: self.port,
        sourceNode: this.opts.localName,
      };
      net.sendMsg({ address: peer.address, port: peer.port }, { type: "indirectPing", body: ind });
    }
    const remaining = () => Math.max(0, start + interval - this.opts.now());
    const tcp = pMax >= 3 ? this.opts.tcpPing(target, ping, remaining()).catch(() => false) : Promise.resolve(false);
    let tcpAcked = false;
    void tcp.then((ok) => {
      if (ok) {
        tcpAcked = true;
        wake?.();
      }
    });
    await ackOrTimeout(remaining());
    if (this.stopped) return "skipped";
    if (acked) {
      awareness.applyDelta(-1);
      return "indirect-ack";
    }
    if (!tcpAcked) tcpAcked = await tcp;
    if (this.stopped) return "skipped";
    if (tcpAcked) {
      this.opts.logger.warn("node answered over TCP but not over UDP: network may be misconfigured", { node: node.name });
      awareness.applyDelta(-1);
      return "tcp-ack";
    }

    counters.probeFailures++;
    awareness.applyDelta(expectedNacks > 0 ? Math.max(0, expectedNacks - nacks) : 1);
    this.opts.logger.info("suspect node has failed, no acks received", { node: node.name });
    this.opts.table.suspectNode({ incarnation, node: node.name, from: this.opts.localName });
    return "suspect";
  }

  // ---------------------------------------------------------------- responder side

  handlePing(p: Ping, from: Endpoint): void {
    if (p.node !== "" && p.node !== this.opts.localName) {
      this.opts.logger.debug("ping for another node", { node: p.node, from: `${from.address}:${from.port}` });
      return;
    }
    const ack: AckResp = { seqNo: p.seqNo, payload: null };
    this.opts.net.sendMsg(replyTo(p.sourceAddr, p.sourcePort, from), { type: "ackResp", body: ack });
  }

  handleIndirectPing(ind: IndirectPingReq, from: Endpoint, ourPort: number): void {
    const targetAddr = bytesToIp(ind.target);
    if (targetAddr === null) return;
    const { net, config, wheel } = this.opts;
    const requester = replyTo(ind.sourceAddr, ind.sourcePort, from);
    const localSeq = this.nextSeqNo();
    let answered = false;
    let nackTimer: Timeout | null = null;
    this.setAckHandler(
      localSeq,
      {
        onAck: () => {
          answered = true;
          nackTimer?.cancel();
          net.sendMsg(requester, { type: "ackResp", body: { seqNo: ind.seqNo, payload: null } });
        },
      },
      config.probeTimeoutMs,
    );
    const self = this.opts.self();
    const ping: Ping = { seqNo: localSeq, node: ind.node, sourceAddr: self.addr, sourcePort: self.port, sourceNode: this.opts.localName };
    net.sendMsg({ address: targetAddr, port: ind.port === 0 ? ourPort : ind.port }, { type: "ping", body: ping });
    if (ind.nack) {
      nackTimer = wheel.schedule(config.probeTimeoutMs, () => {
        if (answered || this.stopped) return;
        const nack: NackResp = { seqNo: ind.seqNo };
        net.sendMsg(requester, { type: "nackResp", body: nack });
      });
    }
  }

  handleAck(ack: AckResp): void {
    const h = this.handlers.get(ack.seqNo);
    if (!h) return;
    this.handlers.delete(ack.seqNo);
    h.timer.cancel();
    h.onAck(ack.payload);
  }

  handleNack(nack: NackResp): void {
    this.handlers.get(nack.seqNo)?.onNack?.();
  }

  private setAckHandler(seqNo: number, h: Omit<AckHandler, "timer">, timeoutMs: number): void {
    const timer = this.opts.wheel.schedule(timeoutMs, () => {
      if (this.handlers.get(seqNo)?.timer === timer) this.handlers.delete(seqNo);
    });
    this.handlers.set(seqNo, { ...h, timer });
  }
}

/** The fields of an entry as plain data (an entry may be a view whose fields are accessors). */
function pick(n: NodeState): NodeState {
  return { name: n.name, addr: n.addr, address: n.address, port: n.port, meta: n.meta, vsn: n.vsn, incarnation: n.incarnation, state: n.state, stateChangedAt: n.stateChangedAt };
}

/** Reply to SourceAddr:SourcePort when both are set, else to the packet's sender. */
function replyTo(addr: IpBytes | undefined, port: number | undefined, from: Endpoint): Endpoint {
  if (addr && addr.length > 0 && port) {
    const a = bytesToIp(addr);
    if (a !== null) return { address: a, port };
  }
  return from;
}
