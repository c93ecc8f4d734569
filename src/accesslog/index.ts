// The access log: `[log] access` = "off" | "stdout" | a path, `access_format` = json | combined.
// One line per answered request, formatted on the request path (a string), written off it (writer.ts).

import { type AccessFormat, type AccessRecord, combinedLine, jsonLine } from "./format.ts";
import { AccessLogWriter } from "./writer.ts";

export type { AccessFormat, AccessRecord } from "./format.ts";

export interface AccessLogConfig {
  /** "off", "stdout" or a file path. */
  access: string;
  format: AccessFormat;
}

export class AccessLog {
  private readonly writer: AccessLogWriter;
  private readonly line: (r: AccessRecord, now: number) => string;
  /** Only the combined format writes Referer and User-Agent: JSON lines skip reading them. */
  readonly wantsAgent: boolean;

  constructor(cfg: AccessLogConfig, onError?: (e: unknown) => void) {
    this.writer = new AccessLogWriter(cfg.access === "stdout" ? "stdout" : { path: cfg.access }, onError);
    this.line = cfg.format === "combined" ? combinedLine : jsonLine;
    this.wantsAgent = cfg.format === "combined";
  }

  /** The configured log, or null when it is off. */
  static open(cfg: AccessLogConfig | undefined, onError?: (e: unknown) => void): AccessLog | null {
    return cfg === undefined || cfg.access === "off" ? null : new AccessLog(cfg, onError);
  }

  record(r: AccessRecord): void {
    this.writer.write(this.line(r, Date.now()));
  }

  reopen(): void {
    this.writer.reopen();
  }

  close(): void {
    this.writer.close();
  }

  get dropped(): number {
    return this.writer.dropped;
  }
}
