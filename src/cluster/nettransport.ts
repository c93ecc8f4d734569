// The Bun implementation of Transport: one UDP socket (packets) and one TCP listener (streams) on the
// same port, as memberlist requires. Pure byte I/O; encryption, framing and dispatch live above.

import type { Socket, TCPSocketListener } from "bun";
import type { Logger } from "../log.ts";
import { errorMessage, formatHostPort } from "../netutil.ts";
import { type Endpoint, Inbox, type Stream, StreamError, type Transport, type TransportHandler } from "./transport.ts";
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
class StreamConn implements Stream {
  private readonly inbox: Inbox;
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
    this.inbox = new Inbox(this.peer);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Next received chunk, or null once the peer has closed and everything was read. */
  read(): Promise<Uint8Array | null> {
    return this.inbox.read();
  }

  write(data: Uint8Array): void {
    if (this.closedFlag || this.inbox.error) throw this.inbox.error ?? new StreamError("closed", "write on closed stream", this.peer);
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
      this.inbox.fail(new StreamError("timeout", `stream deadline of ${ms} ms exceeded`, this.peer));
      this.closeNow();
    }, ms);
  }

  // ---- called from the Bun socket handlers ----

  onData(chunk: Uint8Array): void {
    this.inbox.push(chunk);
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
    this.inbox.end();
  }

  onError(err: Error): void {
    this.inbox.fail(new StreamError("io", err.message, this.peer));
  }

  onClose(): void {
    this.closedFlag = true;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
    this.onEnd();
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

export interface NetTransportOptions {
  bindAddress: string;
  /** 0 picks a port that is free for both UDP and TCP. */
  bindPort: number;
  logger: Logger;
}

const PORT_ATTEMPTS = 20;
/** Packets kept while nobody listens yet (between bind and start): a join reply may come that early. */
const EARLY_PACKETS = 64;

function handlers(onOpen: (conn: StreamConn) => void) {
  return {
    binaryType: "uint8array" as const,
    open(s: Socket<ConnData>) {
      const conn = new StreamConn(s, s.remoteAddress, s.remotePort);
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

export class NetTransport implements Transport {
  private closed = false;
  private handler: TransportHandler | null = null;
  private early: [Uint8Array, Endpoint][] = [];

  private constructor(
    private readonly udp: Bun.udp.Socket<"uint8array">,
    private readonly tcp: TCPSocketListener<ConnData>,
    readonly bindAddress: string,
    readonly port: number,
    private readonly logger: Logger,
  ) {}

  /** Binds UDP and TCP on one port; nothing is delivered until start(). */
  static async bind(opts: NetTransportOptions): Promise<NetTransport> {
    let lastErr: unknown;
    // Filled in once the transport exists: the sockets' callbacks need it, and it needs the sockets.
    let self: NetTransport | null = null;
    for (let attempt = 0; attempt < (opts.bindPort === 0 ? PORT_ATTEMPTS : 1); attempt++) {
      let udp: Bun.udp.Socket<"uint8array">;
      try {
        udp = await Bun.udpSocket({
          hostname: opts.bindAddress,
          port: opts.bindPort,
          binaryType: "uint8array",
          socket: {
            data(_s, buf, port, address) {
              self?.onPacket(buf, { address, port });
            },
            error(_s, err) {
              opts.logger.debug("udp socket error", { err });
            },
          },
        });
      } catch (err) {
        throw new TransportError(`cannot bind UDP ${formatHostPort(opts.bindAddress, opts.bindPort)}: ${errorMessage(err)}`, err);
      }
      try {
        const tcp = Bun.listen<ConnData>({
          hostname: opts.bindAddress,
          port: udp.port,
          socket: handlers((conn) => self?.onStream(conn)),
        });
        self = new NetTransport(udp, tcp, opts.bindAddress, udp.port, opts.logger);
        return self;
      } catch (err) {
        lastErr = err;
        udp.close();
        // the UDP-chosen port is taken for TCP: try another one
      }
    }
    throw new TransportError(`cannot bind TCP ${formatHostPort(opts.bindAddress, opts.bindPort)}: ${errorMessage(lastErr)}`, lastErr);
  }

  start(handler: TransportHandler): void {
    this.handler = handler;
    for (const [buf, from] of this.early.splice(0)) handler.packet(buf, from);
  }

  private onPacket(buf: Uint8Array, from: Endpoint): void {
    if (this.handler) this.handler.packet(buf, from);
    else if (this.early.length < EARLY_PACKETS) this.early.push([buf, from]);
  }

  private onStream(conn: StreamConn): void {
    // Before start() nobody could answer it; the peer retries.
    if (this.handler) this.handler.stream(conn);
    else conn.close();
  }

  sendPacket(buf: Uint8Array, to: Endpoint): boolean {
    if (this.closed) return false;
    try {
      return this.udp.send(buf, to.port, to.address);
    } catch (err) {
      this.logger.debug("udp send failed", { to: formatHostPort(to.address, to.port), err });
      return false;
    }
  }

  async dial(to: Endpoint, timeoutMs: number): Promise<Stream> {
    const peer = formatHostPort(to.address, to.port);
    if (this.closed) throw new StreamError("closed", "transport is shut down", peer);
    let conn: StreamConn | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StreamError("timeout", `connect timed out after ${timeoutMs} ms`, peer)), timeoutMs);
    });
    const connecting = Bun.connect<ConnData>({
      hostname: to.address,
      port: to.port,
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
      throw new StreamError("connect", errorMessage(err), peer);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handler = null;
    this.udp.close();
    this.tcp.stop(true);
  }
}
