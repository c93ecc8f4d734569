// Anti-entropy over TCP: full-table push/pull with one peer (on join and periodically), the
// listener side of it, and TCP ping (the probe fallback). One request, one reply per connection.

import type { Logger } from "../log.ts";
import type { Message, Ping, PushNodeState } from "./messages.ts";
import type { GossipCounters } from "./metrics.ts";
import { type Endpoint, readStreamMessage, writeStreamMessage } from "./net.ts";
import type { Keyring } from "./security.ts";
import type { StateTable } from "./state.ts";
import type { StreamConn } from "./transport.ts";

export class PushPullError extends Error {
  constructor(
    message: string,
    readonly peer: string,
    override readonly cause?: unknown,
  ) {
    super(`push/pull with ${peer}: ${message}`);
    this.name = "PushPullError";
  }
}

export interface StreamPeerOptions {
  table: StateTable;
  keyring: Keyring | null;
  counters: GossipCounters;
  logger: Logger;
  tcpTimeoutMs: number;
  /** Our bound port: substituted for port 0 in received tables. */
  localPort: number;
  dial: (address: string, port: number, timeoutMs: number) => Promise<StreamConn>;
}

/** Push/pull with a period that grows for large clusters: × (ceil(log2 N − 5) + 1) above 32 nodes. */
export function pushPullScaleMs(intervalMs: number, n: number): number {
  const threshold = 32;
  if (n <= threshold) return intervalMs;
  return (Math.ceil(Math.log2(n) - Math.log2(threshold)) + 1) * intervalMs;
}

function peerName(to: Endpoint): string {
  return to.address.includes(":") ? `[${to.address}]:${to.port}` : `${to.address}:${to.port}`;
}

export class StreamPeer {
  constructor(private readonly opts: StreamPeerOptions) {}

  /**
   * Sends our full table to `to` and returns theirs. Rejects with PushPullError on any failure
   * (connect, timeout, an errResp, an unexpected reply).
   */
  async exchange(to: Endpoint, join: boolean): Promise<PushNodeState[]> {
    const peer = peerName(to);
    const { counters } = this.opts;
    let conn: StreamConn;
    try {
      conn = await this.opts.dial(to.address, to.port, this.opts.tcpTimeoutMs);
    } catch (err) {
      throw new PushPullError(errMsg(err), peer, err);
    }
    counters.streamsOut++;
    try {
      conn.setDeadline(this.opts.tcpTimeoutMs);
      this.send(conn, { type: "pushPull", body: { join, states: this.opts.table.toPushStates(), userState: new Uint8Array(0) } });
      const reply = await this.receive(conn);
      if (!reply) throw new PushPullError("connection closed without a reply", peer);
      if (reply.type === "err") throw new PushPullError(`remote error: ${reply.body.error}`, peer);
      if (reply.type !== "pushPull") throw new PushPullError(`unexpected ${reply.type} reply`, peer);
      return reply.body.states;
    } catch (err) {
      if (err instanceof PushPullError) throw err;
      throw new PushPullError(errMsg(err), peer, err);
    } finally {
      conn.end();
    }
  }

  /** exchange + version check + merge. */
  async pushPullNode(to: Endpoint, join: boolean): Promise<PushNodeState[]> {
    this.opts.counters.pushPulls++;
    try {
      const remote = await this.exchange(to, join);
      this.merge(remote);
      return remote;
    } catch (err) {
      this.opts.counters.pushPullFailures++;
      throw err instanceof PushPullError ? err : new PushPullError(errMsg(err), peerName(to), err);
    }
  }

  /** Listener side of push/pull: reply with our table, then merge theirs. */
  respondPushPull(conn: StreamConn, remote: readonly PushNodeState[], join: boolean): void {
    this.send(conn, { type: "pushPull", body: { join, states: this.opts.table.toPushStates(), userState: new Uint8Array(0) } });
    conn.end();
    this.merge(remote);
  }

  /** Version check, then merge. Port 0 means "the port you use" (protocol < 2 peers), as in Go. */
  private merge(remote: readonly PushNodeState[]): void {
    const fixed = remote.map((s) => (s.port === 0 ? { ...s, port: this.opts.localPort } : s));
    this.opts.table.verifyProtocol(fixed);
    this.opts.table.mergeState(fixed);
  }

  /** TCP ping: true if the node acked our ping on a stream before the timeout. */
  async tcpPing(to: Endpoint, ping: Ping, timeoutMs: number): Promise<boolean> {
    if (timeoutMs <= 0) return false;
    let conn: StreamConn;
    try {
      conn = await this.opts.dial(to.address, to.port, timeoutMs);
    } catch {
      return false;
    }
    this.opts.counters.streamsOut++;
    try {
      conn.setDeadline(timeoutMs);
      this.send(conn, { type: "ping", body: ping });
      const reply = await this.receive(conn);
      return reply?.type === "ackResp" && reply.body.seqNo === ping.seqNo;
    } catch (err) {
      this.opts.logger.debug("tcp ping failed", { to: peerName(to), err });
      return false;
    } finally {
      conn.end();
    }
  }

  send(conn: StreamConn, msg: Message): void {
    const n = writeStreamMessage(conn, msg, this.opts.keyring);
    this.opts.counters.msgOut(msg.type);
    this.opts.counters.bytesOut += n;
  }

  async receive(conn: StreamConn): Promise<Message | null> {
    const msg = await readStreamMessage(conn, this.opts.keyring, (n) => (this.opts.counters.bytesIn += n));
    if (msg) this.opts.counters.msgIn(msg.type);
    return msg;
  }
}

function errMsg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
