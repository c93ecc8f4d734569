// Shared test helpers for the cluster tests.
import { expect } from "bun:test";
import type { Delegate, EventDelegate, Member } from "../../src/cluster/index.ts";
import { WireError } from "../../src/cluster/messages.ts";
import type { Logger } from "../../src/log.ts";

/** Runs `f`, which must throw a WireError; returns its drop reason. */
export function reasonOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(WireError);
    return (err as WireError).reason;
  }
  throw new Error("expected a WireError");
}

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

export { waitFor } from "../helpers/wait.ts";

/** Fast timings for loopback clusters (the shape of memberlist's LAN config, scaled down). */
export const FAST = {
  probeIntervalMs: 200,
  probeTimeoutMs: 100,
  gossipIntervalMs: 30,
  gossipNodes: 3,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  retransmitMult: 4,
  indirectChecks: 3,
  pushPullIntervalMs: 2000,
  gossipToTheDeadMs: 5000,
  tcpTimeoutMs: 1000,
  awarenessMaxMultiplier: 8,
  joinRetryMaxMs: 1000,
} as const;

/** Node metadata a test can change: set `meta`, then call the engine's updateNode(). */
export class TestMeta implements Pick<Delegate, "nodeMeta"> {
  constructor(public meta: Uint8Array = new Uint8Array(0)) {}
  nodeMeta(): Uint8Array {
    return this.meta;
  }
}

type EventKind = "join" | "leave" | "update";

/** An EventDelegate that tests subscribe to after the engine was created. */
export class TestEvents implements EventDelegate {
  private readonly fns: Record<EventKind, ((m: Member) => void)[]> = { join: [], leave: [], update: [] };
  on(kind: EventKind, fn: (m: Member) => void): void {
    this.fns[kind].push(fn);
  }
  notifyJoin(m: Member): void {
    for (const f of this.fns.join) f(m);
  }
  notifyLeave(m: Member): void {
    for (const f of this.fns.leave) f(m);
  }
  notifyUpdate(m: Member): void {
    for (const f of this.fns.update) f(m);
  }
}
