// The access log: `[log] access` = "off" | "stdout" | a path, `access_format` = json | combined.
// One line per answered request, encoded on the request path into a byte buffer, written off it (writer.ts).

import { type AccessFormat, type AccessRecord, combinedLine, jsonLine, type LineEncoder, lineBound } from "./format.ts";
import { AccessLogWriter, type LostLines } from "./writer.ts";

export type { AccessFormat, AccessRecord } from "./format.ts";
export type { LostLines } from "./writer.ts";

export interface AccessLogConfig {
  /** "off", "stdout" or a file path. */
  access: string;
  format: AccessFormat;
}

/**
 * A line's time is the monotonic end of its exchange plus the wall clock's offset, read again this often: a
 * clock read per line cost about as much as formatting its numbers, and a stepped wall clock shows within this.
 */
const CLOCK_READ_MS = 1_000;

/** Write errors are reported at most this often: a full disk fails every buffer, and /metrics counts every lost line. */
const REPORT_EVERY_MS = 10_000;

/** `report` called for the first error and then at most once per REPORT_EVERY_MS, with how many came since. */
function throttled(report: (e: unknown, since: number) => void): (e: unknown) => void {
  let last = -Infinity;
  let since = 0;
  return (e) => {
    since++;
    const now = performance.now();
    if (now - last < REPORT_EVERY_MS) return;
    last = now;
    report(e, since);
    since = 0;
  };
}

export class AccessLog {
  private readonly writer: AccessLogWriter;
  private readonly encode: LineEncoder;
  /** Only the combined format writes Referer and User-Agent: JSON lines skip reading them. */
  readonly wantsAgent: boolean;
  /** The wall clock less the monotonic one, as last read (see CLOCK_READ_MS). */
  private wallMinusMono = 0;
  private clockReadAt = -Infinity;

  /** `onError(e, errors)`: the latest error, and how many there were since the previous report (this one included). */
  constructor(cfg: AccessLogConfig, onError?: (e: unknown, errors: number) => void, lost?: LostLines) {
    this.writer = new AccessLogWriter(cfg.access === "stdout" ? "stdout" : { path: cfg.access }, onError && throttled(onError), lost);
    this.encode = cfg.format === "combined" ? combinedLine : jsonLine;
    this.wantsAgent = cfg.format === "combined";
  }

  /** The configured log, or null when it is off. */
  static open(cfg: AccessLogConfig | undefined, onError?: (e: unknown, errors: number) => void, lost?: LostLines): AccessLog | null {
    return cfg === undefined || cfg.access === "off" ? null : new AccessLog(cfg, onError, lost);
  }

  /** `endedAt`: performance.now() when the exchange ended, which gives the line its time. */
  record(r: AccessRecord, endedAt: number): void {
    if (endedAt - this.clockReadAt >= CLOCK_READ_MS) {
      this.clockReadAt = endedAt;
      this.wallMinusMono = Date.now() - endedAt;
    }
    const w = this.writer;
    // Whole ms, as Date.now() gives: the encoder formats the time once per ms.
    if (w.reserve(lineBound(r))) w.commit(this.encode(r, Math.floor(endedAt + this.wallMinusMono), w.buf, w.at));
  }

  reopen(): void {
    this.writer.reopen();
  }

  /** Writes what is buffered (within the writer's time limit) and closes the file. */
  close(): Promise<void> {
    return this.writer.close();
  }
}
