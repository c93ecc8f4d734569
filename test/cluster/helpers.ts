// Shared test helpers for the cluster tests.
import type { Logger } from "../../src/log.ts";

/** A logger that prints errors only, to keep test output readable. */
export function quietLogger(): Logger {
  const l: Logger = {
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: (msg, fields) => console.error(msg, fields ?? ""),
    child: () => l,
    enabled: (level) => level === "error",
  };
  return l;
}
