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

export class AccessLog {
  private readonly writer: AccessLogWriter;
  private readonly encode: LineEncoder;
  /** Only the combined format writes Referer and User-Agent: JSON lines skip reading them. */
  readonly wantsAgent: boolean;

  constructor(cfg: AccessLogConfig, onError?: (e: unknown) => void, lost?: LostLines) {
    this.writer = new AccessLogWriter(cfg.access === "stdout" ? "stdout" : { path: cfg.access }, onError, lost);
    this.encode = cfg.format === "combined" ? combinedLine : jsonLine;
    this.wantsAgent = cfg.format === "combined";
  }

  /** The configured log, or null when it is off. */
  static open(cfg: AccessLogConfig | undefined, onError?: (e: unknown) => void, lost?: LostLines): AccessLog | null {
    return cfg === undefined || cfg.access === "off" ? null : new AccessLog(cfg, onError, lost);
  }

  record(r: AccessRecord): void {
    const w = this.writer;
    if (w.reserve(lineBound(r))) w.commit(this.encode(r, Date.now(), w.buf, w.at));
  }

  reopen(): void {
    this.writer.reopen();
  }

  close(): void {
    this.writer.close();
  }
}
