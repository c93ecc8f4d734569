// The access log's file side. A line is encoded into a 64 KiB byte buffer as soon as it is made, so no
// line outlives its request as a string: holding thousands of strings until a flush, then joining them
// into one, cost the request path more than formatting did (bench/README.md, "The access log"). A full
// buffer, or one 100 ms old, goes to an asynchronous write while the next one fills, so a request never
// waits on the disk: Bun runs an fs.write's write(2) on its thread pool, not on the event loop (strace
// shows it; a writer thread of our own measured no cheaper). The file is opened with O_APPEND: each
// worker process writes its own buffers through its own descriptor, whole lines per write, so workers
// sharing one file never tear each other's lines (for stdout, a pipe, each write is kept within PIPE_BUF
// and cut at a line end for the same reason). reopen() (SIGUSR1) opens the path again after logrotate
// moved it. close() writes what is left the same way, for a bounded time.

import { closeSync, openSync, write } from "node:fs";

/** Buffered lines are written at least this often. */
const FLUSH_MS = 100;
/** One buffer, and so one write to a file. */
const BUFFER_BYTES = 64 * 1024;
/** A disk that cannot keep up does not grow the process without bound: lines beyond this are dropped (and counted). */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;
/** Bytes per write to a pipe: Linux's PIPE_BUF, which the kernel writes atomically. */
const PIPE_BUF = 4096;
/**
 * How long close() goes on writing what is queued before it counts the rest as dropped: a disk writes the
 * most that can be queued (16 MiB) well within it, and it leaves a proxy worker process time to report
 * before its supervisor's kill (drain_timeout + 2 s).
 */
const CLOSE_WITHIN_MS = 1_000;
/** Spare buffers kept for reuse once written. */
const SPARES = 2;

export type AccessTarget = "stdout" | { path: string };

/** Where the writer counts the lines it could not write (ProxyStats's counter slots, for /metrics). */
export interface LostLines {
  /** Dropped while the queue was full: the disk could not keep up. */
  dropped: { value: number };
  /** In a write that failed (a full disk, an I/O error). */
  failed: { value: number };
}

/** Lines (newlines) in buf[start, end). */
function lineCount(buf: Buffer, start: number, end: number): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a, start); i !== -1 && i < end; i = buf.indexOf(0x0a, i + 1)) n++;
  return n;
}

export class AccessLogWriter {
  /** The buffer being filled, and how much of it is. */
  private buffer: Buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  private used = 0;
  /** Filled buffers waiting for the write in progress, oldest first, with their lengths. */
  private readonly queue: { buf: Buffer; len: number }[] = [];
  private queuedBytes = 0;
  private readonly spares: Buffer[] = [];
  private fd: number;
  private writing = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private reopenWanted = false;
  /** close() was called: no new lines; what is queued is still written, within its time. */
  private closed = false;
  /** Settles close(): everything written and the file closed, or the time was up. */
  private closing: Promise<void> | null = null;
  private finish: (() => void) | null = null;

  constructor(
    private readonly target: AccessTarget,
    private readonly onError: (e: unknown) => void = () => {},
    /** A failed write loses its buffer's lines and logging goes on; both kinds of loss are counted here. */
    readonly lost: LostLines = { dropped: { value: 0 }, failed: { value: 0 } },
  ) {
    this.fd = this.open();
  }

  private open(): number {
    return this.target === "stdout" ? 1 : openSync(this.target.path, "a", 0o640);
  }

  /**
   * Room for a line of up to `max` bytes: afterwards the line goes into `buf` from `at`, and commit()
   * takes its end. False when the queue is full and the line must be dropped (it is counted).
   */
  reserve(max: number): boolean {
    if (this.closed) return false;
    if (this.used + max <= this.buffer.length) return true;
    if (this.queuedBytes > MAX_PENDING_BYTES) {
      this.lost.dropped.value++;
      return false;
    }
    this.seal();
    // A line longer than a buffer (a huge path) gets one of its own, sealed at commit().
    if (max > BUFFER_BYTES) {
      if (this.spares.length < SPARES) this.spares.push(this.buffer);
      this.buffer = Buffer.allocUnsafe(max);
    }
    if (!this.writing) this.flush();
    return true;
  }

  get buf(): Buffer {
    return this.buffer;
  }

  get at(): number {
    return this.used;
  }

  /** The line reserve() made room for ends at `end`. */
  commit(end: number): void {
    this.used = end;
    if (this.buffer.length > BUFFER_BYTES) {
      this.seal();
      if (!this.writing) this.flush();
    } else if (this.timer === null && !this.writing) this.timer = setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Opens the path again once the write in progress is done (logrotate moved the old file). */
  reopen(): void {
    // After close() there is nothing to write: a SIGUSR1 during shutdown opens nothing.
    if (this.target === "stdout" || this.closed) return;
    this.reopenWanted = true;
    if (!this.writing) this.flush();
  }

  /**
   * Writes what is buffered and closes the file. A reader that stops reading (a stalled pipe) would hold
   * the lines forever, and a stopping node with them: whatever is still unwritten after `withinMs` is
   * counted as dropped and left.
   */
  close(withinMs: number = CLOSE_WITHIN_MS): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.seal();
    this.closing = new Promise<void>((resolve) => {
      const deadline = setTimeout(() => this.abandon(), withinMs);
      this.finish = () => {
        this.finish = null;
        clearTimeout(deadline);
        resolve();
      };
    });
    if (!this.writing) this.flush();
    return this.closing;
  }

  /** close()'s time is up: the lines still queued are dropped (the write in progress among them). */
  private abandon(): void {
    for (const q of this.queue) this.lost.dropped.value += lineCount(q.buf, 0, q.len);
    this.queue.length = 0;
    this.queuedBytes = 0;
    // A write still in progress keeps the descriptor: its number is not given back while a pool thread may use it.
    if (!this.writing) this.closeFile();
    this.finish?.();
  }

  private closeFile(): void {
    if (this.target !== "stdout") closeSync(this.fd);
  }

  /** The buffer being filled joins the queue and a fresh one takes its place. */
  private seal(): void {
    if (this.used === 0) return;
    this.enqueue(this.buffer, this.used);
    this.buffer = this.spares.pop() ?? Buffer.allocUnsafe(BUFFER_BYTES);
    this.used = 0;
  }

  private enqueue(buf: Buffer, len: number): void {
    this.queue.push({ buf, len });
    this.queuedBytes += len;
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.writing) return;
    if (this.reopenWanted) {
      this.reopenWanted = false;
      try {
        const fd = this.open();
        closeSync(this.fd);
        this.fd = fd;
      } catch (e) {
        // Keep writing to the old descriptor rather than lose lines.
        this.onError(e);
      }
    }
    if (this.queue.length === 0) this.seal();
    const head = this.queue[0];
    if (head === undefined) {
      if (this.closed && this.finish !== null) {
        this.closeFile();
        this.finish();
      }
      return;
    }
    this.writing = true;
    this.writeParts(head.buf, this.parts(head.buf, head.len), 0);
  }

  private writeParts(buf: Buffer, parts: [number, number][], i: number): void {
    if (this.closed && this.finish === null) {
      // close() gave up on this buffer (abandon()): its lines are counted, and the descriptor can go now.
      this.writing = false;
      this.closeFile();
      return;
    }
    if (i >= parts.length) {
      this.writing = false;
      const done = this.queue.shift();
      if (done !== undefined) {
        this.queuedBytes -= done.len;
        if (done.buf.length === BUFFER_BYTES && this.spares.length < SPARES) this.spares.push(done.buf);
      }
      if (this.queue.length > 0 || this.reopenWanted || this.closed) this.flush();
      else if (this.used > 0) this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
      return;
    }
    const [start, end] = parts[i]!;
    write(this.fd, buf, start, end - start, null, (err, written) => {
      if (err) {
        this.lost.failed.value += lineCount(buf, start, end);
        this.onError(err);
      } else if (written < end - start) {
        // A short write (a full disk, a signal): the rest of the part goes next.
        parts[i] = [start + written, end];
        this.writeParts(buf, parts, i);
        return;
      }
      this.writeParts(buf, parts, i + 1);
    });
  }

  /** One part for a file; for stdout, parts within PIPE_BUF cut at line ends. */
  private parts(buf: Buffer, len: number): [number, number][] {
    if (this.target !== "stdout" || len <= PIPE_BUF) return [[0, len]];
    const out: [number, number][] = [];
    let from = 0;
    while (from < len) {
      let end = Math.min(len, from + PIPE_BUF);
      if (end < len) {
        const nl = buf.lastIndexOf(0x0a, end - 1);
        if (nl >= from) end = nl + 1;
      }
      out.push([from, end]);
      from = end;
    }
    return out;
  }
}
