// Network transport: one UDP socket (packets) and one TCP listener (streams) on the same port,
// as memberlist requires. Pure byte I/O; encryption, framing and dispatch live above.

import type { Socket, TCPSocketListener } from "bun";
import type { Logger } from "../log.ts";
import { faults } from "./faults.ts";

export interface PacketSource {
  address: string;
  port: number;
}

export type StreamErrorKind = "timeout" | "closed" | "connect" | "io";

export class StreamError extends Error {
  constructor(
    readonly kind: StreamErrorKind,
    message: string,
    readonly peer?: string,
  ) {
    super(peer ? `${message} (${peer})` : message);
    this.name = "StreamError";
  }
}

export class TransportError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = "TransportError";
  }
}

interface ConnData {
  conn?: StreamConn;
}

/**
 * A TCP connection as a pull-based byte stream: `read()` yields the next received chunk
 * (null at EOF), `write()` never blocks (it queues under backpressure).
 */
export class StreamConn {
  private readonly chunks: Uint8Array[] = [];
  private waiter: { resolve: (c: Uint8Array | null) => void; reject: (e: Error) => void } | null = null;
  private ended = false;
  private failure: StreamError | null = null;
  private pendingOut: Uint8Array[] = [];
  private endAfterFlush = false;
  private deadlineTimer: ReturnType<typeof setTimeout> | null = null;
  private closedFlag = false;
  readonly peer: string;

  constructor(
    private readonly socket: Socket<ConnData>,
    readonly remoteAddress: string,
    readonly remotePort: number,
  ) {
    this.peer = formatHostPort(remoteAddress, remotePort);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Next received chunk, or null once the peer has closed and everything was read. */
  read(): Promise<Uint8Array | null> {
    const c = this.chunks.shift();
    if (c) return Promise.resolve(c);
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve(null);
    if (this.waiter) return Promise.reject(new StreamError("io", "concurrent read", this.peer));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  write(data: Uint8Array): void {
    if (this.closedFlag || this.failure) throw this.failure ?? new StreamError("closed", "write on closed stream", this.peer);
    if (this.pendingOut.length > 0) {
      this.pendingOut.push(data);
      return;
    }
    const n = this.socket.write(data);
    if (n < data.length) this.pendingOut.push(data.subarray(Math.max(0, n)));
  }

  /** Closes the stream after the queued output is flushed. */
  end(): void {
    if (this.closedFlag) return;
    if (this.pendingOut.length > 0) {
      this.endAfterFlush = true;
      return;
    }
    this.closeNow();
  }

  /** Closes the stream immediately (queued output is discarded). */
  close(): void {
    this.closeNow();
  }

  /** Fails pending and future reads with a timeout and closes the connection after `ms`. */
  setDeadline(ms: number): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => {
      this.fail(new StreamError("timeout", `stream deadline of ${ms} ms exceeded`, this.peer));
      this.closeNow();
    }, ms);
  }

  // ---- called from the Bun socket handlers ----

  onData(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve(chunk);
    } else {
      this.chunks.push(chunk);
    }
  }

  onDrain(): void {
    while (this.pendingOut.length > 0) {
      const head = this.pendingOut[0];
      const n = this.socket.write(head);
      if (n < head.length) {
        this.pendingOut[0] = head.subarray(Math.max(0, n));
        return;
      }
      this.pendingOut.shift();
    }
    if (this.endAfterFlush) this.closeNow();
  }

  onEnd(): void {
    this.ended = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve(null);
    }
  }

  onError(err: Error): void {
    this.fail(new StreamError("io", err.message, this.peer));
  }

  onClose(): void {
    this.closedFlag = true;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
    this.onEnd();
  }

  private fail(err: StreamError): void {
    if (!this.failure) this.failure = err;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(err);
    }
  }

  private closeNow(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
    this.pendingOut = [];
    try {
      this.socket.end();
    } catch {
      // already closed by the peer
    }
    this.onEnd();
  }
}

export interface TransportOptions {
  bindAddress: string;
  /** 0 picks a free port that is free for both UDP and TCP. */
  bindPort: number;
  onPacket: (buf: Uint8Array, from: PacketSource) => void;
  onStream: (conn: StreamConn) => void;
  logger: Logger;
}

const PORT_ATTEMPTS = 20;

function handlers(onOpen: (conn: StreamConn) => void) {
  return {
    binaryType: "uint8array" as const,
    open(s: Socket<ConnData>) {
      const conn = new StreamConn(s, s.remoteAddress, remotePortOf(s));
      s.data = { conn };
      onOpen(conn);
    },
    data(s: Socket<ConnData>, chunk: Uint8Array) {
      s.data?.conn?.onData(chunk);
    },
    drain(s: Socket<ConnData>) {
      s.data?.conn?.onDrain();
    },
    end(s: Socket<ConnData>) {
      s.data?.conn?.onEnd();
    },
    error(s: Socket<ConnData>, err: Error) {
      s.data?.conn?.onError(err);
    },
    close(s: Socket<ConnData>) {
      s.data?.conn?.onClose();
    },
  };
}

function remotePortOf(s: Socket<ConnData>): number {
  const r = (s as unknown as { remotePort?: number }).remotePort;
  return typeof r === "number" ? r : 0;
}

export class NetTransport {
  private closed = false;

  private constructor(
    private readonly udp: Bun.udp.Socket<"uint8array">,
    private readonly tcp: TCPSocketListener<ConnData>,
    readonly bindAddress: string,
    readonly port: number,
    private readonly logger: Logger,
  ) {}

  static async listen(opts: TransportOptions): Promise<NetTransport> {
    let lastErr: unknown;
    for (let attempt = 0; attempt < (opts.bindPort === 0 ? PORT_ATTEMPTS : 1); attempt++) {
      let udp: Bun.udp.Socket<"uint8array">;
      try {
        udp = await Bun.udpSocket({
          hostname: opts.bindAddress,
          port: opts.bindPort,
          binaryType: "uint8array",
          socket: {
            data(_s, buf, port, address) {
              if (faults.enabled && faults.inboundLost(opts.bindAddress, address)) return;
              opts.onPacket(buf, { address, port });
            },
            error(_s, err) {
              opts.logger.debug("udp socket error", { err });
            },
          },
        });
      } catch (err) {
        throw new TransportError(`cannot bind UDP ${formatHostPort(opts.bindAddress, opts.bindPort)}: ${errMsg(err)}`, err);
      }
      try {
        const tcp = Bun.listen<ConnData>({
          hostname: opts.bindAddress,
          port: udp.port,
          socket: handlers(acceptStream(opts.onStream)),
        });
        return new NetTransport(udp, tcp, opts.bindAddress, udp.port, opts.logger);
      } catch (err) {
        lastErr = err;
        udp.close();
        // the UDP-chosen port is taken for TCP: try another one
      }
    }
    throw new TransportError(`cannot bind TCP ${formatHostPort(opts.bindAddress, opts.bindPort)}: ${errMsg(lastErr)}`, lastErr);
  }

  /** Sends one datagram; false when the socket is closed or the kernel buffer is full. */
  sendPacket(buf: Uint8Array, address: string, port: number): boolean {
    if (this.closed) return false;
    if (faults.enabled) {
      const delay = faults.outbound(this.bindAddress, address);
      // A packet lost on the wire looks sent to its sender.
      if (delay < 0) return true;
      if (delay > 0) {
        const copy = buf.slice();
        setTimeout(() => {
          if (!this.closed) this.sendNow(copy, address, port);
        }, delay);
        return true;
      }
    }
    return this.sendNow(buf, address, port);
  }

  private sendNow(buf: Uint8Array, address: string, port: number): boolean {
    try {
      return this.udp.send(buf, port, address);
    } catch (err) {
      this.logger.debug("udp send failed", { to: formatHostPort(address, port), err });
      return false;
    }
  }

  /** Opens a TCP stream to address:port, failing after timeoutMs. */
  async dial(address: string, port: number, timeoutMs: number): Promise<StreamConn> {
    const peer = formatHostPort(address, port);
    if (this.closed) throw new StreamError("closed", "transport is shut down", peer);
    if (faults.enabled) timeoutMs = await faultyConnect(this.bindAddress, address, peer, timeoutMs);
    let conn: StreamConn | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StreamError("timeout", `connect timed out after ${timeoutMs} ms`, peer)), timeoutMs);
    });
    const connecting = Bun.connect<ConnData>({
      hostname: address,
      port,
      socket: handlers((c) => {
        conn = c;
      }),
    });
    try {
      const s = await Promise.race([connecting, timeout]);
      const c = conn ?? s.data?.conn;
      if (!c) throw new StreamError("connect", "socket opened without a connection", peer);
      return c;
    } catch (err) {
      // a late connect after the timeout must not leak a socket
      connecting.then((s) => s.end()).catch(() => {});
      if (err instanceof StreamError) throw err;
      throw new StreamError("connect", errMsg(err), peer);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.udp.close();
    this.tcp.stop(true);
  }
}

/** Test faults on an inbound connection: one from a peer we cannot exchange packets with never completed its handshake. */
function acceptStream(onStream: (conn: StreamConn) => void): (conn: StreamConn) => void {
  return (conn) => {
    if (faults.enabled && faults.refuseStream(conn.remoteAddress)) {
      conn.close();
      return;
    }
    onStream(conn);
  };
}

/** Test faults on a dial: waits out a lost SYN, or the whole timeout when the peer is unreachable. Returns the time left. */
async function faultyConnect(local: string, address: string, peer: string, timeoutMs: number): Promise<number> {
  const wait = faults.dial(local, address);
  if (wait === 0) return timeoutMs;
  if (wait < 0 || wait >= timeoutMs) {
    await Bun.sleep(timeoutMs);
    throw new StreamError("timeout", `connect timed out after ${timeoutMs} ms`, peer);
  }
  await Bun.sleep(wait);
  return timeoutMs - wait;
}

export function formatHostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

function errMsg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
