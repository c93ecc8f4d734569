// The node's own answers when it cannot proxy: short plain text with a request id, never a stack.

import { NO_BACKEND_HEADER } from "./headers.ts";

let seq = 0;
const bootId = Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, "0");
/** What every id of this process starts with: its boot id and "-"; the rest is a sequence number in base 36. */
export const REQUEST_ID_PREFIX = `${bootId}-`;

/** The next id's sequence number: the access log writes its digits itself rather than make a string. */
export function nextRequestSeq(): number {
  seq = (seq + 1) % 0x7fffffff;
  return seq;
}

/** Ids are only made for error answers and logs, so the success path pays nothing. */
export function requestId(): string {
  return REQUEST_ID_PREFIX + nextRequestSeq().toString(36);
}

export type ProxyErrorKind = "not_routed" | "no_backend" | "bad_gateway" | "timeout" | "too_large" | "bad_request" | "not_allowed" | "client_timeout" | "client_closed" | "rate_limited";

const STATUS: Record<ProxyErrorKind, number> = {
  not_routed: 404,
  no_backend: 503,
  bad_gateway: 502,
  timeout: 504,
  too_large: 413,
  client_timeout: 408,
  bad_request: 400,
  not_allowed: 405,
  rate_limited: 429,
  // nginx's code for a client that closed the connection first; nobody reads it, but logs and metrics do.
  client_closed: 499,
};

const TEXT: Record<ProxyErrorKind, string> = {
  not_routed: "no route for this host and path",
  no_backend: "no healthy backend is available",
  bad_gateway: "the backend could not be reached or failed",
  timeout: "the backend did not answer in time",
  too_large: "request body too large",
  client_timeout: "the request body stopped arriving",
  bad_request: "bad request",
  not_allowed: "method not allowed",
  client_closed: "the client closed the connection",
  rate_limited: "too many requests",
};

export interface ErrorResponseOptions {
  retryAfterS?: number;
  /** Mark a 503 as "this node has no backend", for the peer that forwarded the request. */
  markNoBackend?: boolean;
  detail?: string;
  /** More fields for this answer (e.g. a rate limit's). */
  headers?: Record<string, string>;
}

export function errorResponse(kind: ProxyErrorKind, id: string, opts: ErrorResponseOptions = {}): Response {
  const status = STATUS[kind];
  const headers: Record<string, string> = {
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-store",
    "x-request-id": id,
  };
  if (opts.retryAfterS !== undefined) headers["retry-after"] = String(opts.retryAfterS);
  if (opts.markNoBackend) headers[NO_BACKEND_HEADER] = "1";
  if (opts.headers) Object.assign(headers, opts.headers);
  const detail = opts.detail ? ` (${opts.detail})` : "";
  const body = `${status} ${TEXT[kind]}${detail}; request id ${id}\n`;
  // Stated, not left to Bun: the access log reads the size of the node's own answers from it.
  headers["content-length"] = String(Buffer.byteLength(body));
  return new Response(body, { status, headers });
}
