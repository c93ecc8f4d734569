// Typed failure of one upstream exchange. `failure` tells the forwarder what is safe to do next:
// "connect" means no byte of this request reached any server, so any method may be retried elsewhere;
// "broken" means the request may have been (partly) seen by the upstream.

export type UpstreamFailure = "connect" | "broken";

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
  if (e !== null && typeof e === "object") {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code !== "") return code;
    const name = (e as { name?: unknown }).name;
    if (typeof name === "string" && name !== "" && name !== "Error") return name;
  }
  return fallback;
}
