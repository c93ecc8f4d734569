// The engine's only view of the network, after memberlist's transport.go: best-effort packets and
// reliable streams, both on one address:port. The Bun socket implementation is nettransport.ts; tests
// replace it (an in-memory network) or wrap it (injected faults) without the engine knowing.

export interface Endpoint {
  address: string;
  port: number;
}

export type StreamErrorKind = "timeout" | "closed" | "connect" | "io";

/** Stream failures; `kind` lets the engine tell a silent peer ("timeout") from the rest. */
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

/**
 * A reliable, ordered byte stream to one peer, pull-based: memberlist sends one request and at most one
 * reply per stream. Failures surface as StreamError from read() and write().
 */
export interface Stream {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly closed: boolean;
  /** Next received chunk, or null once the peer has closed and everything was read. */
  read(): Promise<Uint8Array | null>;
  /** Never blocks: output is queued under backpressure. */
  write(data: Uint8Array): void;
  /** Closes after the queued output is flushed. */
  end(): void;
  /** Closes now; queued output is discarded. */
  close(): void;
  /** Fails pending and later reads with a "timeout" StreamError and closes the stream after `ms`. */
  setDeadline(ms: number): void;
}

/** Where a transport delivers what arrives. Both are called synchronously and must not throw. */
export interface TransportHandler {
  packet(buf: Uint8Array, from: Endpoint): void;
  stream(conn: Stream): void;
}

export interface Transport {
  /** The address the transport is bound to (a wildcard is possible). */
  readonly bindAddress: string;
  /** The bound port, for packets and streams alike. */
  readonly port: number;
  /** Starts delivering inbound packets and streams; what arrived before may be delivered now or dropped. */
  start(handler: TransportHandler): void;
  /** Sends one datagram, best effort; false when it certainly did not leave. */
  sendPacket(buf: Uint8Array, to: Endpoint): boolean;
  /** Opens a stream, rejecting with StreamError after `timeoutMs`. */
  dial(to: Endpoint, timeoutMs: number): Promise<Stream>;
  close(): Promise<void>;
}

/**
 * The read side of a Stream, for transport implementations: chunks queue up until read(), which waits
 * for the next one; end() and fail() settle a waiting read and every later one.
 */
export class Inbox {
  private readonly chunks: Uint8Array[] = [];
  private waiter: { resolve: (c: Uint8Array | null) => void; reject: (e: Error) => void } | null = null;
  private ended = false;
  private failure: StreamError | null = null;

  constructor(private readonly peer: string) {}

  /** The first failure, if any (writes refuse to go on after it). */
  get error(): StreamError | null {
    return this.failure;
  }

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

  push(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.ended) return;
    const w = this.waiter;
    this.waiter = null;
    if (w) w.resolve(chunk);
    else this.chunks.push(chunk);
  }

  /** Nothing more will arrive: reads drain what is queued, then get null. */
  end(): void {
    this.ended = true;
    const w = this.waiter;
    this.waiter = null;
    w?.resolve(null);
  }

  fail(err: StreamError): void {
    this.failure ??= err;
    const w = this.waiter;
    this.waiter = null;
    w?.reject(err);
  }
}
