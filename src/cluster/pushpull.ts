// Anti-entropy over TCP: full-table push/pull with one peer (on join and periodically), the
// listener side of it, and TCP ping (the probe fallback). One request, one reply per connection.

import type { Logger } from "../log.ts";
import { errorMessage, formatHostPort } from "../netutil.ts";
import type { Message, Ping, PushNodeState, PushPull } from "./messages.ts";
import type { GossipCounters } from "./metrics.ts";
import { readStreamMessage, writeStreamMessage } from "./net.ts";
import type { Keyring } from "./security.ts";
import type { StateTable } from "./state.ts";
import type { Endpoint, Stream } from "./transport.ts";

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
  dial: (to: Endpoint, timeoutMs: number) => Promise<Stream>;
  /** The application's state sent along with our table (the delegate's LocalState). */
  localState: (join: boolean) => Uint8Array;
  /** The peer's application state, when it sent any (the delegate's MergeRemoteState). */
  mergeRemoteState: (state: Uint8Array, join: boolean) => void;
}

/** Push/pull with a period that grows for large clusters: × (ceil(log2 N − 5) + 1) above 32 nodes. */
export function pushPullScaleMs(intervalMs: number, n: number): number {
  const threshold = 32;
  if (n <= threshold) return intervalMs;
  return (Math.ceil(Math.log2(n) - Math.log2(threshold)) + 1) * intervalMs;
}

export class StreamPeer {
  constructor(private readonly opts: StreamPeerOptions) {}

  /**
   * Sends our full table to `to` and returns theirs. Rejects with PushPullError on any failure
   * (connect, timeout, an errResp, an unexpected reply).
   */
  async exchange(to: Endpoint, join: boolean): Promise<PushPull> {
    const peer = formatHostPort(to.address, to.port);
    const { counters } = this.opts;
    let conn: Stream;
    try {
      conn = await this.opts.dial(to, this.opts.tcpTimeoutMs);
    } catch (err) {
      throw new PushPullError(errorMessage(err), peer, err);
    }
    counters.streamsOut++;
    try {
      conn.setDeadline(this.opts.tcpTimeoutMs);
      this.sendLocalState(conn, join);
      const reply = await this.receive(conn);
      if (!reply) throw new PushPullError("connection closed without a reply", peer);
      if (reply.type === "err") throw new PushPullError(`remote error: ${reply.body.error}`, peer);
      if (reply.type !== "pushPull") throw new PushPullError(`unexpected ${reply.type} reply`, peer);
      return reply.body;
    } catch (err) {
      if (err instanceof PushPullError) throw err;
      throw new PushPullError(errorMessage(err), peer, err);
    } finally {
      conn.end();
    }
  }

  /** exchange + version check + merge. */
  async pushPullNode(to: Endpoint, join: boolean): Promise<PushNodeState[]> {
    this.opts.counters.pushPulls++;
    try {
      const remote = await this.exchange(to, join);
      this.merge(remote, join);
      return remote.states;
    } catch (err) {
      this.opts.counters.pushPullFailures++;
      throw err instanceof PushPullError ? err : new PushPullError(errorMessage(err), formatHostPort(to.address, to.port), err);
    }
  }

  /** Listener side of push/pull: reply with our table (and the join flag we were sent), then merge theirs. */
  respondPushPull(conn: Stream, remote: PushPull): void {
    this.sendLocalState(conn, remote.join);
    conn.end();
    this.merge(remote, remote.join);
  }

  private sendLocalState(conn: Stream, join: boolean): void {
    this.send(conn, { type: "pushPull", body: { join, states: this.opts.table.toPushStates(), userState: this.opts.localState(join) } });
  }

  /**
   * Version check, merge of the table, then the application's state (only when the peer sent some, as
   * Go does). Port 0 means "the port you use" (protocol < 2 peers), as in Go.
   */
  private merge(remote: PushPull, join: boolean): void {
    const fixed = remote.states.map((s) => (s.port === 0 ? { ...s, port: this.opts.localPort } : s));
    this.opts.table.verifyProtocol(fixed);
    this.opts.table.mergeState(fixed);
    if (remote.userState.length > 0) this.opts.mergeRemoteState(remote.userState, join);
  }

  /** TCP ping: true if the node acked our ping on a stream before the timeout. */
  async tcpPing(to: Endpoint, ping: Ping, timeoutMs: number): Promise<boolean> {
    if (timeoutMs <= 0) return false;
    let conn: Stream;
    try {
      conn = await this.opts.dial(to, timeoutMs);
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
      this.opts.logger.debug("tcp ping failed", { to: formatHostPort(to.address, to.port), err });
      return false;
    } finally {
      conn.end();
    }
  }

  send(conn: Stream, msg: Message): void {
    const n = writeStreamMessage(conn, msg, this.opts.keyring);
    this.opts.counters.msgOut(msg.type);
    this.opts.counters.bytesOut += n;
  }

  async receive(conn: Stream): Promise<Message | null> {
    const msg = await readStreamMessage(conn, this.opts.keyring, (n) => (this.opts.counters.bytesIn += n));
    if (msg) this.opts.counters.msgIn(msg.type);
    return msg;
  }
}

