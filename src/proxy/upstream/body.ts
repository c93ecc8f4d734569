// Response bodies that stream from the upstream socket. Two shapes of the same channel:
//  - QueuedBody: a standard ReadableStream with a byte high-water mark; the socket pauses while the
//    queue is full and resumes on pull().
//  - DirectBody: Bun's "direct" ReadableStream; chunks go straight to the consumer (Bun.serve writes
//    them to the client socket), and a write that reports backpressure pauses the socket until drained.
// Either way the socket is read no faster than the consumer takes the bytes, so at most the high-water
// mark plus one socket read is held in memory.

/** The exchange side of a body: it controls the socket. */
export interface BodyOwner {
  pauseReading(): void;
  resumeReading(): void;
  /** The consumer went away before the end of the body. */
  bodyCancelled(): void;
}

export interface BodyChannel {
  readonly stream: ReadableStream<Uint8Array>;
  push(chunk: Uint8Array): void;
  end(): void;
  fail(err: Error): void;
  /** The consumer is behind: stop reading the socket for now. */
  backlogged(): boolean;
}

export class QueuedBody implements BodyChannel {
  readonly stream: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private closed = false;

  constructor(
    private readonly owner: BodyOwner,
    strategy: QueuingStrategy<Uint8Array>,
  ) {
    this.stream = new ReadableStream<Uint8Array>(this, strategy);
  }

  // underlying source
  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.controller = controller;
  }
  pull(): void {
    if (!this.closed) this.owner.resumeReading();
  }
  cancel(): void {
    if (this.closed) return;
    this.closed = true;
    this.owner.bodyCancelled();
  }

  push(chunk: Uint8Array): void {
    if (!this.closed) this.controller.enqueue(chunk);
  }
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.controller.close();
  }
  fail(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.controller.error(err);
  }
  backlogged(): boolean {
    return !this.closed && this.controller.desiredSize! <= 0;
  }
}

export class DirectBody implements BodyChannel {
  readonly stream: ReadableStream<Uint8Array>;
  readonly type = "direct";
  private controller: ReadableStreamDirectController | null = null;
  /** Chunks that arrived before the consumer started pulling. */
  private early: Uint8Array[] | null = null;
  private earlyBytes = 0;
  private state: "open" | "ended" | "failed" | "cancelled" = "open";
  private error: Error | null = null;
  private blocked = false;
  private settle: { resolve(): void; reject(e: Error): void } | null = null;
  private readonly unblock = (n: number): void => {
    this.blocked = false;
    if (n === 0) this.gone();
    else if (this.state === "open") this.owner.resumeReading();
  };

  constructor(
    private readonly owner: BodyOwner,
    private readonly highWaterMark: number,
  ) {
    this.stream = new ReadableStream<Uint8Array>(this);
  }

  // underlying direct source; Bun.serve calls pull once, a reader calls it again after it settles
  pull(controller: ReadableStreamDirectController): void | Promise<void> {
    this.controller = controller;
    const early = this.early;
    if (early !== null) {
      this.early = null;
      this.earlyBytes = 0;
      for (let i = 0; i < early.length; i++) this.write(early[i]!);
    }
    if (this.state === "ended") {
      controller.close();
      return;
    }
    if (this.state === "failed") {
      controller.close(this.error!);
      return;
    }
    if (this.state === "cancelled") return;
    if (!this.blocked) this.owner.resumeReading();
    return new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
  }
  cancel(): void {
    this.gone();
  }

  push(chunk: Uint8Array): void {
    if (this.state !== "open") return;
    if (this.controller === null) {
      (this.early ??= []).push(chunk);
      this.earlyBytes += chunk.byteLength;
      return;
    }
    this.write(chunk);
  }
  end(): void {
    if (this.state !== "open") return;
    this.state = "ended";
    const c = this.controller;
    if (c === null) return; // pull() will close it
    c.close();
    this.settled();
  }
  fail(err: Error): void {
    if (this.state !== "open") return;
    this.state = "failed";
    this.error = err;
    this.early = null;
    const s = this.settle;
    this.settle = null;
    if (s !== null) s.reject(err);
    else if (this.controller !== null) this.controller.close(err);
  }
  backlogged(): boolean {
    return this.blocked || (this.controller === null && this.earlyBytes >= this.highWaterMark);
  }

  private write(chunk: Uint8Array): void {
    const r = this.controller!.write(chunk);
    if (typeof r === "number") {
      if (r === 0 && chunk.byteLength > 0) this.gone();
      return;
    }
    this.blocked = true;
    r.then(this.unblock, this.unblock as () => void);
  }

  private settled(): void {
    const s = this.settle;
    this.settle = null;
    if (s !== null) s.resolve();
  }

  /** The destination went away (client disconnected or the stream was cancelled). */
  private gone(): void {
    if (this.state !== "open") return;
    this.state = "cancelled";
    this.early = null;
    this.settled();
    this.owner.bodyCancelled();
  }
}
