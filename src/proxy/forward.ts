// One upstream attempt: fetch with the body streamed, no decompression, no redirects, aborted when
// the client goes away or the response headers take too long. Failures come back classified so
// the server can decide whether another attempt is safe.

import type { Timeout, TimingWheel } from "../timer/wheel.ts";
import type { Selection } from "./selection.ts";
import type { RequestBody } from "./transfer.ts";
import { type UpstreamClient, UpstreamError } from "./upstream/client.ts";
import { isConnectFailureCode } from "./upstream/errors.ts";

export type AttemptFailure =
  /** The socket could not be opened (refused, unreachable, DNS, connect timeout): retry any method; the target is to blame. */
  | "connect"
  /** Nothing was sent, for a reason of ours: retry any method; the target is not to blame. */
  | "unsent"
  /** The exchange broke after the request may have been sent: retry only if idempotent. */
  | "broken"
  /** We refused to write the request (framing we cannot represent): the client's fault. */
  | "invalid"
  /** No response headers within the response timeout. */
  | "timeout"
  /** The client went away; nobody is waiting for an answer. */
  | "client_gone"
  /** The client stopped sending its request body (no chunk for idle_timeout). */
  | "client_stalled";

export interface PeerTls {
  /** PEM CA certificate(s) to verify peers with; absent = the system's CAs. */
  ca?: string;
}

export interface AttemptError {
  failure: AttemptFailure;
  code: string;
}

/**
 * One attempt's abort wiring: the object is its own listener on the client's signal (no closure for
 * that); `fire` is the response-timeout callback handed to the wheel. The listener stays after the
 * answer so a client leaving mid-body still tears the upstream down.
 */
class Attempt {
  readonly controller = new AbortController();
  timedOut = false;
  constructor(private readonly clientSignal: AbortSignal) {}
  handleEvent(): void {
    // Client disconnected: abort the upstream side too.
    this.controller.abort();
  }
  fire = (): void => {
    this.timedOut = true;
    this.controller.abort();
  };
  detach(): void {
    this.clientSignal.removeEventListener("abort", this);
  }
}

/**
 * One attempt at the current pick of `sel`: through the pooled HTTP/1.1 client when one is given
 * (plain-HTTP upstreams), else through fetch (https peers, or when configured).
 */
export async function attempt(
  sel: Selection,
  path: string,
  req: Request,
  body: ReadableStream<Uint8Array> | null,
  timeoutMs: number,
  wheel: TimingWheel,
  client: UpstreamClient | null,
  /** TLS options for an https origin (e.g. the CA that signs peer nodes' certificates). */
  tls: PeerTls | undefined,
  /** A watched request body: the response timeout starts once it has been sent. */
  upload: RequestBody | null,
): Promise<Response | AttemptError> {
  const a = new Attempt(req.signal);
  if (req.signal.aborted) return { failure: "client_gone", code: "aborted" };
  req.signal.addEventListener("abort", a);
  // Like nginx's proxy_read_timeout, the wait for response headers starts when the request is sent.
  let timer: Timeout | null = null;
  if (upload && !upload.done) {
    upload.onDone = () => {
      timer = wheel.schedule(timeoutMs, a.fire);
    };
    upload.onStall = () => a.controller.abort();
  } else {
    timer = wheel.schedule(timeoutMs, a.fire);
  }
  try {
    if (client) return await client.request(sel.target, req.method, path, req.headers, body, a.controller.signal);
    return await fetch(sel.origin + path, {
      method: req.method,
      headers: req.headers,
      body,
      redirect: "manual",
      decompress: false,
      signal: a.controller.signal,
      // Bun streams a ReadableStream body as chunked when no length is known.
      duplex: "half",
      tls,
    } as RequestInit);
    // From here the body streams; the client's abort still tears the upstream down (listener kept).
  } catch (e) {
    a.detach();
    if (req.signal.aborted) return { failure: "client_gone", code: "aborted" };
    if (upload?.stalled) return { failure: "client_stalled", code: "stalled" };
    if (a.timedOut) return { failure: "timeout", code: "timeout" };
    if (e instanceof UpstreamError) return { failure: e.failure, code: e.code };
    const code = errorCode(e);
    return { failure: isConnectFailureCode(code) ? "connect" : "broken", code };
  } finally {
    (timer as Timeout | null)?.cancel();
    if (upload) {
      upload.onDone = null;
      upload.onStall = null;
    }
  }
}

function errorCode(e: unknown): string {
  if (e && typeof e === "object") {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    const name = (e as { name?: unknown }).name;
    if (typeof name === "string") return name;
  }
  return "unknown";
}
