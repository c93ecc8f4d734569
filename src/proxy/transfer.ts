// Long transfers. Bun's connection idle timer is re-armed neither by request-body bytes nor by the
// response bytes it writes, so left alone it cuts any upload, download or event stream that lasts
// longer than proxy.idle_timeout. For those exchanges the connection timer is switched off and
// replaced by a stall watchdog on the body itself: it fires only when no chunk moved for
// idle_timeout, and the connection timer comes back once the body is through.
// Responses under 1 MiB with a known length (the hot path) pass through untouched; larger ones and
// those of unknown length go through a JS stream, which Bun sends chunked (Content-Length is lost).
// That stream also tells when such a body really ends (balancing's in-flight count, the access log).

import type { Server } from "bun";
import type { Timeout, TimingWheel } from "../timer/wheel.ts";
import { idleTimeoutSeconds } from "../netutil.ts";

/** Responses at least this large (or of unknown length) get a watched body. */
export const WATCH_RESPONSES_FROM = 1024 * 1024;

/** The part of a stream reader we use: both Bun's and node:stream/web's reader types have it. */
interface ChunkReader {
  read(): Promise<{ done: true; value?: Uint8Array } | { done: false; value: Uint8Array }>;
  cancel(reason?: unknown): Promise<void>;
}

interface ConnTimeout {
  timeout(req: Request, seconds: number): void;
}

/** Bytes of a request body kept for a retry: enough for what an attempt reads before it connects. */
const REPLAY_MAX_BYTES = 256 * 1024;

/**
 * A request body across attempts. Each attempt gets a fresh pull-based stream over the same source;
 * the first bytes read are kept (up to REPLAY_MAX_BYTES) so that an attempt which read them but never
 * reached its upstream (a connect failure) can be followed by another one. A watched body (large or of
 * unknown size) also replaces Bun's idle timer by a stall watchdog until it is complete.
 */
export class RequestBody {
  private reader: ChunkReader | undefined;
  private timer: Timeout | null = null;
  /** Chunks read from the source; all of them while replayable, else only those not yet sent on. */
  private chunks: Uint8Array[] = [];
  /** Position in the whole body of chunks[0]. */
  private base = 0;
  private bytes = 0;
  private keep = true;
  /** The one source read in progress: attempts never read the source concurrently. */
  private reading: Promise<void> | null = null;
  /** Only the latest attempt's stream may take chunks; an abandoned one gets an error. */
  private current = 0;
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
    /** Watch for stalls and keep Bun's idle timer off until the body is in. */
    readonly watched: boolean,
  ) {
    if (watched) {
      // Bun's own idle timer would cut the upload; the watchdog below takes over until the body is in.
      server.timeout(req, 0);
      this.arm();
    }
  }

  /** Bytes read from the client and passed on so far (what the access log counts for a body of unknown size). */
  get received(): number {
    return this.bytes;
  }

  /** Whether another attempt can be given the whole body from its start. */
  get replayable(): boolean {
    return this.keep && !this.stalled;
  }

  /** A stream for one attempt; pull-based, so the upstream's pace reaches the client (backpressure). */
  stream(): ReadableStream<Uint8Array> {
    const token = ++this.current;
    let pos = 0;
    return new ReadableStream<Uint8Array>(
      {
        pull: async (c) => {
          while (pos >= this.base + this.chunks.length) {
            if (token !== this.current) return c.error(new Error("request body taken by a later attempt"));
            if (this.done) return c.close();
            await (this.reading ??= this.readSource());
          }
          if (token !== this.current) return c.error(new Error("request body taken by a later attempt"));
          // Replay what earlier attempts read, then continue with what the source gives.
          const chunk = this.chunks[pos - this.base]!;
          pos++;
          if (!this.keep) {
            // Not replayable any more: nothing needs what this attempt has taken.
            this.chunks.splice(0, pos - this.base);
            this.base = pos;
          }
          c.enqueue(chunk);
        },
      },
      { highWaterMark: 0 },
    );
  }

  private async readSource(): Promise<void> {
    try {
      this.reader ??= this.source.getReader();
      const r = await this.reader.read();
      if (r.done) {
        this.finish();
        return;
      }
      const value = r.value;
      this.chunks.push(value);
      this.bytes += value.byteLength;
      if (this.bytes > REPLAY_MAX_BYTES) this.keep = false;
      if (this.watched) this.arm();
    } finally {
      this.reading = null;
    }
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
    this.server.timeout(this.req, idleTimeoutSeconds(this.idleMs));
    this.onStall?.();
  };

  private finish(): void {
    this.done = true;
    this.timer?.cancel();
    this.timer = null;
    if (this.watched) this.server.timeout(this.req, idleTimeoutSeconds(this.idleMs));
    const cb = this.onDone;
    this.onDone = null;
    cb?.();
  }

  /**
   * The upstream answered: no more attempts, so nothing needs keeping. The body may still be flowing
   * (e.g. an echo), so the current stream and the stall watchdog carry on until it is complete.
   */
  answered(): void {
    this.keep = false;
  }

  /** The exchange failed or was answered locally: stop everything. */
  close(): void {
    this.timer?.cancel();
    this.timer = null;
    this.keep = false;
    this.current++;
    this.chunks = [];
    if (this.watched && !this.done) this.server.timeout(this.req, idleTimeoutSeconds(this.idleMs));
  }
}

/** A watched download ended (done, upstream error, client gone, or stalled) with `sentBytes` handed to the client. */
export type DownloadEnd = (sentBytes: number) => void;

/**
 * Wraps a large response body: the connection timer is off while it flows, and the body is cancelled
 * (closing the connection) when the client has not taken a chunk for idle_timeout. `onEnd` runs exactly
 * once, whichever way the body ends, with the bytes handed on to Bun's writer by then (a client that went
 * away may not have received the last of them: nginx's $body_bytes_sent counts the same way).
 */
export function watchDownload(
  body: ReadableStream<Uint8Array>,
  server: Server<unknown>,
  req: Request,
  idleMs: number,
  wheel: TimingWheel,
  onEnd: DownloadEnd,
): ReadableStream<Uint8Array> {
  const idleS = idleTimeoutSeconds(idleMs);
  const reader: ChunkReader = body.getReader();
  let timer: Timeout | null = null;
  let finished = false;
  let sent = 0;
  /** False when the body had already ended. */
  const end = (): boolean => {
    if (finished) return false;
    finished = true;
    timer?.cancel();
    timer = null;
    onEnd(sent);
    return true;
  };
  server.timeout(req, 0);
  let controller: ReadableStreamDefaultController<Uint8Array>;
  const stall = () => {
    timer = null;
    if (!end()) return;
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
        let r: Awaited<ReturnType<ChunkReader["read"]>>;
        try {
          r = await reader.read();
        } catch (e) {
          // The upstream broke mid-body: the client's stream errors (Bun cuts the connection).
          end();
          throw e;
        }
        // Cancelled or stalled while this read waited: the stream is finished already.
        if (finished) return;
        if (r.done) {
          end();
          server.timeout(req, idleS);
          c.close();
          return;
        }
        sent += r.value.byteLength;
        c.enqueue(r.value);
      },
      cancel(reason) {
        end();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
