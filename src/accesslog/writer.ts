// The access log's file side: lines are appended to a buffer on the request path and written by an
// asynchronous write a little later, so a request never waits on the disk. The file is opened with
// O_APPEND: each worker process writes its own buffer through its own descriptor, whole lines per write,
// so workers sharing one file never tear each other's lines (for stdout, a pipe, each write is kept
// under PIPE_BUF for the same reason). reopen() (SIGUSR1) opens the path again after logrotate moved it.

import { closeSync, openSync, write, writeSync } from "node:fs";

/** Buffered text is written at least this often. */
const FLUSH_MS = 100;
/** ...or as soon as this much is waiting. */
const FLUSH_BYTES = 64 * 1024;
/** A disk that cannot keep up does not grow the process without bound: lines beyond this are dropped (and counted). */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;
/** Characters per write to a pipe: Linux's PIPE_BUF (4096 bytes) holds them even at 2 bytes each. */
const PIPE_BUF = 2048;

export type AccessTarget = "stdout" | { path: string };

export class AccessLogWriter {
  private pending: string[] = [];
  private pendingBytes = 0;
  private fd: number;
  private writing = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private reopenWanted = false;
  private closed = false;
  /** Lines dropped because the buffer was full. */
  dropped = 0;
  /** Write errors since start (the line batch is lost, logging goes on). */
  errors = 0;

  constructor(
    private readonly target: AccessTarget,
    private readonly onError: (e: unknown) => void = () => {},
  ) {
    this.fd = this.open();
  }

  private open(): number {
    return this.target === "stdout" ? 1 : openSync(this.target.path, "a", 0o640);
  }

  /** Queues one line (ending in "\n"). */
  write(line: string): void {
    if (this.closed) return;
    if (this.pendingBytes > MAX_PENDING_BYTES) {
      this.dropped++;
      return;
    }
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.writing) return;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Opens the path again once the write in progress is done (logrotate moved the old file). */
  reopen(): void {
    if (this.target === "stdout") return;
    this.reopenWanted = true;
    if (!this.writing) this.flush();
  }

  /** Writes what is buffered now, synchronously, and closes the file. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const text = this.take();
    try {
      if (text !== "") for (const part of this.parts(text)) writeSync(this.fd, part);
    } catch (e) {
      this.errors++;
      this.onError(e);
    }
    if (this.target !== "stdout") closeSync(this.fd);
  }

  private take(): string {
    const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join("");
    this.pending = [];
    this.pendingBytes = 0;
    return text;
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.writing || this.closed) return;
    if (this.reopenWanted) {
      this.reopenWanted = false;
      try {
        const fd = this.open();
        closeSync(this.fd);
        this.fd = fd;
      } catch (e) {
        // Keep writing to the old descriptor rather than lose lines.
        this.errors++;
        this.onError(e);
      }
    }
    if (this.pending.length === 0) return;
    const parts = this.parts(this.take());
    this.writing = true;
    this.writeParts(parts, 0);
  }

  private writeParts(parts: string[], i: number): void {
    if (i >= parts.length) {
      this.writing = false;
      if (this.reopenWanted || this.pendingBytes >= FLUSH_BYTES) this.flush();
      else if (this.pending.length > 0) this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
      return;
    }
    write(this.fd, parts[i]!, (err) => {
      if (err) {
        this.errors++;
        this.onError(err);
      }
      if (this.closed) return;
      this.writeParts(parts, i + 1);
    });
  }

  /** One part for a file; for stdout, parts under PIPE_BUF cut at line ends. */
  private parts(text: string): string[] {
    if (this.target !== "stdout" || text.length <= PIPE_BUF) return [text];
    const out: string[] = [];
    let from = 0;
    while (from < text.length) {
      let end = Math.min(text.length, from + PIPE_BUF);
      if (end < text.length) {
        const nl = text.lastIndexOf("\n", end - 1);
        if (nl >= from) end = nl + 1;
      }
      out.push(text.slice(from, end));
      from = end;
    }
    return out;
  }
}
