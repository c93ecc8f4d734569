// One line per event: human-readable on a TTY, JSON lines otherwise.
// Nothing on the request path logs at info; debug lines are dropped before formatting.

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "pretty" | "json";
export type LogFields = Record<string, unknown>;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `component` to every line. */
  child(component: string): Logger;
  enabled(level: LogLevel): boolean;
}

export interface LogSink {
  write(line: string): void;
}

interface LogState {
  level: number;
  format: LogFormat;
  sink: LogSink;
}

const state: LogState = {
  level: RANK.info,
  format: process.stderr.isTTY ? "pretty" : "json",
  sink: { write: (line) => process.stderr.write(line) },
};

export function configureLogging(opts: { level?: LogLevel; format?: LogFormat; sink?: LogSink }): void {
  if (opts.level) state.level = RANK[opts.level];
  if (opts.format) state.format = opts.format;
  if (opts.sink) state.sink = opts.sink;
}

/** The level and format in force, to hand to child processes. */
export function currentLogging(): { level: LogLevel; format: LogFormat } {
  const level = (Object.keys(RANK) as LogLevel[]).find((l) => RANK[l] === state.level) ?? "info";
  return { level, format: state.format };
}

export function isLogLevel(v: string): v is LogLevel {
  return v in RANK;
}

function emit(level: LogLevel, component: string | undefined, msg: string, fields?: LogFields): void {
  if (RANK[level] < state.level) return;
  const time = new Date().toISOString();
  if (state.format === "json") {
    const rec: LogFields = { time, level, msg };
    if (component) rec.component = component;
    if (fields) for (const k in fields) if (fields[k] !== undefined) rec[k] = normalise(fields[k]);
    state.sink.write(JSON.stringify(rec) + "\n");
    return;
  }
  let line = `${time} ${level.toUpperCase().padEnd(5)} ${component ? `[${component}] ` : ""}${msg}`;
  if (fields) {
    for (const k in fields) if (fields[k] !== undefined) line += ` ${k}=${formatValue(normalise(fields[k]))}`;
  }
  state.sink.write(line + "\n");
}

function normalise(v: unknown): unknown {
  if (v instanceof Error) return v.message;
  return v;
}

function formatValue(v: unknown): string {
  if (typeof v === "string") return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (v === undefined) return "undefined";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

export function createLogger(component?: string): Logger {
  return {
    debug: (m, f) => emit("debug", component, m, f),
    info: (m, f) => emit("info", component, m, f),
    warn: (m, f) => emit("warn", component, m, f),
    error: (m, f) => emit("error", component, m, f),
    child: (c) => createLogger(component ? `${component}.${c}` : c),
    enabled: (level) => RANK[level] >= state.level,
  };
}

export const log = createLogger();
