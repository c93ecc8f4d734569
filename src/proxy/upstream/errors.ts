// Typed failure of one upstream exchange, classified by where it happened. `failure` tells the
// forwarder what is safe to do next and whether the target itself is to blame:
// - "connect": the socket could not be opened (refused, unreachable, reset or timed out while
//   connecting). Nothing was sent; the only failure that says something about the target's health.
// - "unsent": nothing was sent, for a reason of ours (the client went away, the client was closed, the
//   target was abandoned): any method may be retried, and the target is not to blame.
// - "broken": the connection was open and the request may have been (partly) seen by the upstream.
// - "invalid": we refused to write the request (framing we cannot represent): the client's fault.

import { errorCode } from "../../netutil.ts";

export type UpstreamFailure = "connect" | "unsent" | "broken" | "invalid";

/**
 * Socket error codes that mean a connection could not be opened (Bun.connect, fetch, WebSocket).
 * Anything else happened on an open connection, or is not the target's doing.
 */
const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "ConnectionRefused",
  "FailedToOpenSocket",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "ETIMEDOUT",
  "DNSResolutionFailed",
  "connect_timeout",
]);

export function isConnectFailureCode(code: string): boolean {
  return CONNECT_CODES.has(code);
}

export class UpstreamError extends Error {
  override readonly name = "UpstreamError";
  constructor(
    readonly failure: UpstreamFailure,
    /** Short machine-readable reason: an errno-style code from the socket or one of ours (e.g. "bad_chunk"). */
    readonly code: string,
    /** Where it happened, for logs: "host:port". */
    readonly target = "",
    detail?: string,
  ) {
    super(`upstream ${failure}${target ? ` ${target}` : ""}: ${code}${detail ? ` (${detail})` : ""}`);
  }
}

/** A protocol violation found by the response parser; the connection turns it into UpstreamError("broken"). */
export class ParseError extends Error {
  override readonly name = "ParseError";
  constructor(
    readonly code: string,
    detail?: string,
  ) {
    super(detail ? `${code}: ${detail}` : code);
  }
}

/** Code of a socket-level error: errno-style `code` when present, else the error's name. */
export function socketErrorCode(e: unknown, fallback: string): string {
  const code = errorCode(e);
  if (code) return code;
  // Bun names some failures only by the error's name (e.g. "ConnectionRefused").
  return e instanceof Error && e.name !== "" && e.name !== "Error" ? e.name : fallback;
}
