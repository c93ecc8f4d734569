// Long transfers. Bun's connection idle timer is re-armed neither by request-body bytes nor by the
// response bytes it writes, so left alone it cuts any upload, download or event stream that lasts
// longer than proxy.idle_timeout. For those exchanges the connection timer is switched off and
// replaced by a stall watchdog on the body itself: it fires only when no chunk moved for
// idle_timeout, and the connection timer comes back once the body is through.
// Responses under 1 MiB with a known length (the hot path) pass through untouched; larger ones and
// those of unknown length go through a JS stream, which Bun sends chunked (Content-Length is lost).

import type { Server } from "bun";
import type { Timeout, TimingWheel } from "../timer/wheel.ts";

/** Responses at least this large (or of unknown length) get a watched body. */
export const WATCH_RESPONSES_FROM = 1024 * 1024;

/** The part of a stream reader we use (keeps the Bun and DOM reader types apart). */
interface ChunkReader {
  read(): Promise<{ done: true; value?: undefined } | { done: false; value: Uint8Array }>;
  cancel(reason?: unknown): Promise<void>;
}

interface ConnTimeout {
  timeout(req: Request, seconds: number): void;
}

/**
 * Watches one request body across attempts. Each attempt gets a fresh stream over the same source, so
 * a body that was not read by a failed attempt can still be sent to the next target.
 */
export class UploadWatch {
  private reader: ChunkReader | undefined;
  private timer: Timeout | null = null;
  /** Some bytes were handed to an upstream: the body cannot be sent again. */
  started = false;
  /** The whole body was read from the client. */
  done = false;
  /** No chunk for idle_timeout: the client stalled. */
  stalled = false;
  /** Called once when the body is complete (arms the response timeout). */
  onDone: (() => void) | null = null;
  /** Called when the client stalls (aborts the attempt). */
  onStall: (() => void) | null = null;

  constructor(
    private readonly source: ReadableStream<Uint8Array>,
    private readonly server: ConnTimeout,
    private readonly req: Request,
    private readonly idleMs: number,
    private readonly wheel: TimingWheel,
  ) {
    // Bun's own idle timer would cut the upload; the watchdog below takes over until the body is in.
    server.timeout(req, 0);
    this.arm();
  }

  /** A stream for one attempt; pull-based, so the upstream's pace reaches the client (backpressure). */
  stream(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>(
      {
        pull: async (c) => {
          this.reader ??= this.source.getReader() as unknown as ChunkReader;
          const { done, value } = await this.reader.read();
          if (done) {
            this.finish();
            c.close();
            return;
          }
          this.started = true;
          this.arm();
          c.enqueue(value);
        },
        cancel: () => {
          // The upstream gave up on this attempt; the source stays for a retry only if nothing was read.
        },
      },
      { highWaterMark: 0 },
    );
  }

  private arm(): void {
    this.timer?.cancel();
    this.timer = this.wheel.schedule(this.idleMs, this.stall);
  }

  private stall = (): void => {
    this.timer = null;
    if (this.done) return;
    this.stalled = true;
    void this.reader?.cancel().catch(() => {});
    this.onStall?.();
  };

  private finish(): void {
    this.done = true;
    this.timer?.cancel();
    this.timer = null;
    this.server.timeout(this.req, Math.min(255, Math.ceil(this.idleMs / 1000)));
    const cb = this.onDone;
    this.onDone = null;
    cb?.();
  }

  /** The exchange ended (answered or failed): stop watching. */
  close(): void {
    this.timer?.cancel();
    this.timer = null;
    if (!this.done) this.server.timeout(this.req, Math.min(255, Math.ceil(this.idleMs / 1000)));
  }
}

/**
 * Wraps a large response body: the connection timer is off while it flows, and the body is cancelled
 * (closing the connection) when the client has not taken a chunk for idle_timeout.
 */
export function watchDownload(body: ReadableStream<Uint8Array>, server: Server<unknown>, req: Request, idleMs: number, wheel: TimingWheel): ReadableStream<Uint8Array> {
  const idleS = Math.min(255, Math.ceil(idleMs / 1000));
  const reader = body.getReader() as unknown as ChunkReader;
  let timer: Timeout | null = null;
  let finished = false;
  const end = () => {
    finished = true;
    timer?.cancel();
    timer = null;
  };
  server.timeout(req, 0);
  let controller: ReadableStreamDefaultController<Uint8Array>;
  const stall = () => {
    timer = null;
    if (finished) return;
    end();
    void reader.cancel().catch(() => {});
    controller.error(new Error("client stalled"));
  };
  const arm = () => {
    timer?.cancel();
    timer = wheel.schedule(idleMs, stall);
  };
  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        arm();
      },
      async pull(c) {
        arm();
        const { done, value } = await reader.read();
        if (done) {
          end();
          server.timeout(req, idleS);
          c.close();
          return;
        }
        c.enqueue(value);
      },
      cancel(reason) {
        end();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
