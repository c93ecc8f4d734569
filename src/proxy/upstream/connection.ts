// One TCP connection to an upstream (Bun.connect), carrying one exchange at a time. It owns the
// socket, the response parser and a small write queue; what the bytes mean is the exchange's business.
// Socket events go through one shared handler object (the Conn is the socket's `data`), so no closures
// are made per connection or per request.

import type { Socket, SocketHandler } from "bun";
import { socketErrorCode } from "./errors.ts";
import { type ParserLimits, ResponseParser, type ResponseSink } from "./parser.ts";

/** The exchange currently using a connection, as the connection sees it. */
export interface ConnUser extends ResponseSink {
  /** Bytes arrived and were parsed; `done` when the response is complete. */
  responseProgress(conn: Conn, done: boolean, extraBytes: boolean): void;
  /** The body consumer is behind: stop reading until it catches up. */
  backlogged(): boolean;
  /** The parser refused the response. */
  responseInvalid(conn: Conn, code: string): void;
  /** The connection is gone (connect failure, reset, EOF, timeout). `code` says why. */
  connectionLost(conn: Conn, code: string): void;
}

/** What a connection tells its pool. */
export interface ConnOwner {
  readonly label: string;
  /** The connection closed (exactly once per connection). */
  connClosed(conn: Conn): void;
  /** A fresh connection opened with no exchange waiting for it any more. */
  connUnused(conn: Conn): void;
}

const C_CONNECTING = 0;
const C_OPEN = 1;
const C_CLOSED = 2;

export class Conn {
  socket: Socket<Conn> | null = null;
  private state = C_CONNECTING;
  user: ConnUser | null = null;
  readonly parser: ResponseParser;
  /** Exchanges started on this connection, the current one included. */
  uses = 0;
  /** The server allows another request after the current one. */
  keepAlive = true;
  /** Some byte of the current request was handed to an open socket. */
  wrote = false;
  /** The socket could not be opened (connect error or connect timeout): the target's fault, not ours. */
  connectFailed = false;
  private paused = false;
  /** For the pool: when it went idle, and where it sits in the idle list. */
  idleSince = 0;
  idleIndex = -1;
  /** Bytes not yet accepted by the socket, oldest first. */
  private queue: Uint8Array[] = [];
  private drainResolve: (() => void) | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly owner: ConnOwner,
    host: string,
    port: number,
    connectTimeoutMs: number,
    limits: Readonly<ParserLimits>,
  ) {
    this.parser = new ResponseParser(limits);
    if (connectTimeoutMs > 0) this.connectTimer = setTimeout(onConnectTimeout, connectTimeoutMs, this);
    Bun.connect<Conn>({ hostname: host, port, data: this, socket: HANDLERS }).then(undefined, ignore);
  }

  get isOpen(): boolean {
    return this.state === C_OPEN;
  }

  get isClosed(): boolean {
    return this.state === C_CLOSED;
  }

  /** Nothing queued: the socket took every byte so far. */
  get writable(): boolean {
    return this.queue.length === 0;
  }

  /** Hands the connection to an exchange; `expectBody` is false for HEAD. */
  attach(user: ConnUser, expectBody: boolean): void {
    this.user = user;
    this.uses++;
    this.wrote = false;
    this.parser.reset(user, expectBody);
    if (this.paused) this.resume();
  }

  detach(): void {
    this.user = null;
  }

  /**
   * Writes bytes now if the socket takes them, queues the rest. `transient` bytes (a reused scratch
   * buffer) are copied when they have to wait.
   */
  send(buf: Uint8Array, transient: boolean): void {
    if (this.state === C_OPEN && this.queue.length === 0) {
      this.wrote = true;
      const n = this.socket!.write(buf);
      if (n === buf.length) return;
      if (n < 0) return; // closing: the close event reports it
      buf = buf.subarray(n);
    } else if (this.state === C_CLOSED) {
      return;
    }
    this.queue.push(transient ? Uint8Array.prototype.slice.call(buf) : buf);
  }

  /** Writes `n` bytes of a reused scratch buffer; whatever the socket does not take now is copied and queued. */
  sendScratch(buf: Uint8Array, n: number): void {
    if (this.state === C_OPEN && this.queue.length === 0) {
      this.wrote = true;
      const w = this.socket!.write(buf, 0, n);
      if (w === n || w < 0) return;
      this.queue.push(Uint8Array.prototype.slice.call(buf, w, n)); // a copy (Buffer#slice would be a view)
      return;
    }
    if (this.state !== C_CLOSED) this.queue.push(Uint8Array.prototype.slice.call(buf, 0, n));
  }

  /** Resolves once the write queue is empty (or the connection closed). */
  drained(): Promise<void> {
    if (this.queue.length === 0 || this.state === C_CLOSED) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.drainResolve = resolve;
    });
  }

  /** Stops reading from the socket (the response body consumer is behind). */
  pause(): void {
    if (!this.paused && this.state === C_OPEN) {
      this.paused = true;
      this.socket!.pause();
    }
  }

  resume(): void {
    if (this.paused) {
      this.paused = false;
      if (this.state === C_OPEN) this.socket!.resume();
    }
  }

  /** Closes the connection at once (RST); the user, if any, is not told. */
  destroy(): void {
    this.user = null;
    const s = this.socket;
    this.closed("destroyed");
    if (s !== null) s.terminate();
  }

  /** Closes the connection at once (RST) and fails the exchange on it, if any, with `code`. */
  kill(code: string): void {
    const s = this.socket;
    this.closed(code);
    if (s !== null) s.terminate();
  }

  /** Closes an idle connection politely (FIN). */
  end(): void {
    this.user = null;
    const s = this.socket;
    this.closed("closed");
    if (s !== null) s.end();
  }

  setRef(on: boolean): void {
    if (this.socket !== null) {
      if (on) this.socket.ref();
      else this.socket.unref();
    }
  }

  // ---- socket events (via HANDLERS) ----

  onOpen(s: Socket<Conn>): void {
    if (this.state === C_CLOSED) {
      // Given up (timeout or abort) while connecting.
      s.terminate();
      return;
    }
    this.socket = s;
    this.state = C_OPEN;
    this.clearConnectTimer();
    s.setNoDelay(true);
    if (this.paused) s.pause();
    this.flush();
    if (this.user === null) this.owner.connUnused(this);
  }

  onData(buf: Buffer): void {
    const user = this.user;
    if (user === null) {
      // Bytes on an idle connection: the server is out of step with us, do not reuse it.
      this.destroy();
      return;
    }
    let used: number;
    try {
      used = this.parser.execute(buf);
    } catch (e) {
      const code = (e as { code?: string }).code ?? "bad_response";
      this.user = null;
      user.responseInvalid(this, code);
      return;
    }
    if (this.user !== user) return; // torn down by a callback
    const done = this.parser.done;
    if (done || used < buf.length) user.responseProgress(this, done, used < buf.length);
    // Pause only for a response still arriving: a complete one costs no pause/resume syscalls.
    else if (user.backlogged()) this.pause();
  }

  onClose(error: Error | undefined): void {
    if (this.state === C_CLOSED) return;
    // Closed before it ever opened (e.g. reset during the handshake): it could not be opened.
    if (this.state === C_CONNECTING) this.connectFailed = true;
    this.closed(error ? socketErrorCode(error, "ECONNRESET") : "closed");
  }

  onConnectError(error: Error): void {
    this.connectFailed = true;
    this.closed(socketErrorCode(error, "ECONNREFUSED"));
  }

  flush(): void {
    const q = this.queue;
    const s = this.socket!;
    while (q.length > 0) {
      const buf = q[0]!;
      this.wrote = true;
      const n = s.write(buf);
      if (n < 0) return;
      if (n < buf.length) {
        q[0] = buf.subarray(n);
        return;
      }
      q.shift();
    }
    this.wakeWriter();
  }

  /** Marks the connection closed exactly once and tells the pool, then the user. */
  closed(code: string): void {
    if (this.state === C_CLOSED) return;
    this.state = C_CLOSED;
    this.clearConnectTimer();
    this.queue.length = 0;
    this.wakeWriter();
    this.owner.connClosed(this);
    const user = this.user;
    this.user = null;
    if (user !== null) user.connectionLost(this, code);
  }

  private wakeWriter(): void {
    const r = this.drainResolve;
    if (r !== null) {
      this.drainResolve = null;
      r();
    }
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
  }
}

function onConnectTimeout(conn: Conn): void {
  conn.connectFailed = true;
  conn.closed("connect_timeout");
}

function ignore(): void {}

const HANDLERS: SocketHandler<Conn> = {
  open(s) {
    s.data.onOpen(s);
  },
  data(s, buf) {
    s.data.onData(buf);
  },
  drain(s) {
    const c = s.data;
    if (c.isOpen) c.flush();
  },
  close(s, error) {
    s.data.onClose(error);
  },
  connectError(s, error) {
    s.data.onConnectError(error);
  },
  error(s, error) {
    // A handler threw: the connection's state is unknown, so drop it.
    s.data.onClose(error);
    s.terminate();
  },
};
