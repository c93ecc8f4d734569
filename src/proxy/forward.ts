// Upstream attempts: the two upstream designs behind one interface (the pooled HTTP/1.1 client, and
// fetch with a cap on calls in flight), and the abort wiring one request's attempts share. Failures
// come back classified so the server can decide what is safe next.

import type { DeadlineList, Expiring } from "./deadlines.ts";
import type { RequestBody } from "./transfer.ts";
import { stripHopByHop } from "./headers.ts";
import { type OutgoingFields, type UpstreamClient, UpstreamError, type UpstreamSignal, type UpstreamTarget } from "./upstream/client.ts";
import { isConnectFailureCode, socketErrorCode } from "./upstream/errors.ts";

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

/** One attempt's request, as both upstream designs need it. */
export interface UpstreamRequest {
  readonly target: UpstreamTarget;
  /** "http(s)://host:port" of the target (fetch). */
  readonly origin: string;
  readonly method: string;
  /** Path and query. */
  readonly path: string;
  /** The fields for the upstream, serialised (the pooled client writes them as they are). */
  readonly fields: OutgoingFields;
  /** The same fields as a Headers (fetch). */
  readonly headers: Headers;
  readonly body: ReadableStream<Uint8Array> | null;
  readonly signal: AttemptSignal;
}

/**
 * An upstream design: sends one attempt, resolves with the response (end-to-end fields only) or rejects
 * (classified by AttemptSignal.classify).
 */
export interface Upstream {
  send(r: UpstreamRequest): Promise<Response>;
  /** Drops pooled connections to a target that went away (a peer no longer alive). */
  abandon(host: string, port: number): void;
  close(): void;
}

const ABORT_EVENT = new Event("abort");

/**
 * The abort side of one request's attempts. It listens on the client's signal once per request and
 * stands in for an AbortSignal towards the upstream, firing when the client goes away or when the
 * current attempt's response timeout runs out, so no AbortController is made per attempt. It is its
 * own entry in the response-timeout list.
 */
export class AttemptSignal implements UpstreamSignal, EventListenerObject, Expiring {
  /** The current attempt was aborted (client gone, or timed out). */
  aborted = false;
  timedOut = false;
  private listener: EventListenerObject | null = null;
  private upload: RequestBody | null = null;
  deadlineAt = 0;
  deadlinePrev: Expiring | null = null;
  deadlineNext: Expiring | null = null;
  deadlineList: DeadlineList | null = null;

  constructor(private readonly client: AbortSignal) {
    client.addEventListener("abort", this);
  }

  /**
   * Arms the next attempt: like nginx's proxy_read_timeout, the wait for response headers starts once
   * the request is sent, so with a body still arriving it starts when the body is complete.
   * `now` is performance.now().
   */
  begin(timeouts: DeadlineList, now: number, upload: RequestBody | null): void {
    this.aborted = this.client.aborted;
    this.timedOut = false;
    if (upload !== null && !upload.done) {
      this.upload = upload;
      upload.onDone = () => timeouts.add(this, performance.now());
      upload.onStall = () => this.abort();
    } else {
      timeouts.add(this, now);
    }
  }

  /** The attempt has its answer (or failed): the response timeout no longer applies. */
  end(): void {
    this.deadlineList?.remove(this);
    const u = this.upload;
    if (u !== null) {
      u.onDone = null;
      u.onStall = null;
      this.upload = null;
    }
  }

  /** The response timeout ran out. */
  expire(): void {
    this.timedOut = true;
    this.abort();
  }

  /** How a rejected attempt failed, from what this signal saw and the error. */
  classify(e: unknown): AttemptError {
    if (this.client.aborted) return { failure: "client_gone", code: "aborted" };
    if (this.upload?.stalled) return { failure: "client_stalled", code: "stalled" };
    if (this.timedOut) return { failure: "timeout", code: "timeout" };
    if (e instanceof UpstreamError) return { failure: e.failure, code: e.code };
    const code = socketErrorCode(e, "unknown");
    return { failure: isConnectFailureCode(code) ? "connect" : "broken", code };
  }

  addEventListener(_type: "abort", listener: EventListenerObject): void {
    this.listener = listener;
  }

  removeEventListener(_type: "abort", listener: EventListenerObject): void {
    if (this.listener === listener) this.listener = null;
  }

  /** The client's signal fired. */
  handleEvent(): void {
    this.abort();
  }

  private abort(): void {
    this.aborted = true;
    const l = this.listener;
    this.listener = null;
    l?.handleEvent(ABORT_EVENT);
  }
}

/** The pooled HTTP/1.1 client (plain-HTTP upstreams). */
export class PooledUpstream implements Upstream {
  constructor(private readonly client: UpstreamClient) {}

  send(r: UpstreamRequest): Promise<Response> {
    return this.client.request(r.target, r.method, r.path, r.fields, r.body, r.signal);
  }

  abandon(host: string, port: number): void {
    this.client.abandon(host, port);
  }

  close(): void {
    this.client.close();
  }
}

/**
 * Bun's fetch, with at most `maxInFlight` calls in flight per process and the rest queued: fetch keeps
 * about 64 idle sockets per process and churns connections beyond that, so an uncapped burst opens and
 * closes upstream connections at the rate of requests.
 */
export class FetchUpstream implements Upstream {
  private inFlight = 0;
  /** FIFO of calls waiting for a slot; `head` is the next one. */
  private waiting: (() => void)[] = [];
  private head = 0;
  /** Calls waiting for response headers, by "host:port" (for abandon). */
  private readonly calls = new Map<string, Set<AbortController>>();

  constructor(
    private readonly maxInFlight: number,
    /** TLS options for https origins (e.g. the CA that signs peer nodes' certificates). */
    private readonly tls: PeerTls | undefined,
  ) {}

  async send(r: UpstreamRequest): Promise<Response> {
    if (this.inFlight < this.maxInFlight) this.inFlight++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    const key = `${r.target.host}:${r.target.port}`;
    const ctrl = new AbortController();
    try {
      if (r.signal.aborted) throw new UpstreamError("unsent", "aborted");
      r.signal.addEventListener("abort", { handleEvent: () => ctrl.abort() });
      let calls = this.calls.get(key);
      if (calls === undefined) this.calls.set(key, (calls = new Set()));
      calls.add(ctrl);
      const res = await fetch(r.origin + r.path, {
        method: r.method,
        headers: r.headers,
        body: r.body,
        redirect: "manual",
        decompress: false,
        signal: ctrl.signal,
        // Bun streams a ReadableStream body as chunked when no length is known.
        duplex: "half",
        tls: this.tls,
      } as RequestInit);
      stripHopByHop(res.headers);
      return res;
    } finally {
      const calls = this.calls.get(key);
      if (calls !== undefined && calls.delete(ctrl) && calls.size === 0) this.calls.delete(key);
      this.release();
    }
  }

  /** A call has its response headers (its socket is busy only while the body drains): pass the slot on. */
  private release(): void {
    const next = this.waiting[this.head];
    if (next === undefined) {
      this.inFlight--;
      return;
    }
    if (++this.head === this.waiting.length) {
      this.waiting = [];
      this.head = 0;
    }
    next();
  }

  /** Calls waiting for response headers from a target that went away fail now (retried elsewhere when safe). */
  abandon(host: string, port: number): void {
    const calls = this.calls.get(`${host}:${port}`);
    if (calls !== undefined) for (const c of calls) c.abort();
  }

  close(): void {}
}
