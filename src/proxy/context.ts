// One proxied request, as its steps (admit → choose → attempt/retry → answer) share it. It is also the
// request each attempt hands to the upstream, so an attempt allocates nothing of its own.

import type { Server } from "bun";
import type { AttemptSignal, UpstreamRequest } from "./forward.ts";
import { POOL_HEADER, prepareRequestHeaders } from "./headers.ts";
import type { ProtocolIndex } from "./protocol.ts";
import type { ClientHead, ForwardingInfo } from "./request-head.ts";
import type { RouteDecision } from "./routed.ts";
import type { Selection } from "./selection.ts";
import type { TargetStats } from "./stats.ts";
import type { RequestBody } from "./transfer.ts";
import type { OutgoingFields, UpstreamTarget } from "./upstream/client.ts";

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

export class ProxyContext implements UpstreamRequest {
  readonly method: string;
  readonly idempotent: boolean;
  /** The current attempt's body stream (a fresh one per attempt when the body is replayable). */
  body: ReadableStream<Uint8Array> | null = null;
  /** Attempts made so far. */
  attempts = 0;
  /** Attempts a peer answered with "no healthy backend here" (nothing was served). */
  peersWithNone = 0;
  /** Whether any attempt may have reached an upstream (otherwise nothing was served anywhere). */
  sent = false;
  /** The body could not be given to another attempt (its start was not kept). */
  bodyLost = false;
  /** The current attempt's counters and start time. */
  targetStats: TargetStats | null = null;
  t0 = 0;
  /** The HTTP version the client spoke. */
  readonly protocol: ProtocolIndex;
  /** performance.now() when the request arrived (set only while the access log is on). */
  start = 0;
  private headersPrepared = false;
  private readonly head: ClientHead;
  private toPeer: OutgoingFields | null = null;

  constructor(
    readonly req: Request,
    readonly server: Server<unknown>,
    /** Where the route sent it (a peer is told, so it need not route again). */
    readonly routed: RouteDecision,
    /** The request came from a cluster member: served here, never forwarded again. */
    readonly fromMember: boolean,
    readonly sel: Selection,
    readonly signal: AttemptSignal,
    /** The request body across attempts, or null when there is none. */
    readonly upload: RequestBody | null,
    head: ClientHead,
    readonly info: ForwardingInfo,
  ) {
    this.method = req.method;
    this.idempotent = IDEMPOTENT.has(this.method);
    this.head = head.forUpstream(info);
    this.protocol = info.protocol;
  }

  /** The upstream's fields, serialised (pooled client): a peer is also told the pool. */
  get fields(): OutgoingFields {
    if (this.local) return this.head;
    return (this.toPeer ??= { lines: `${this.head.lines}${POOL_HEADER}: ${this.routed.signal}\r\n`, hasHost: this.head.hasHost, contentLength: this.head.contentLength });
  }

  /** The request's Headers prepared for the upstream (fetch); made on first use, the pooled path never needs it. */
  get headers(): Headers {
    const h = this.req.headers;
    if (!this.headersPrepared) {
      this.headersPrepared = true;
      prepareRequestHeaders(h, this.info);
    }
    if (this.local) h.delete(POOL_HEADER);
    else h.set(POOL_HEADER, this.routed.signal);
    return h;
  }

  /** Path and query for the current target: a backend's (a route may strip a prefix), or the client's for a peer. */
  get path(): string {
    return this.local ? this.routed.backendPath : this.routed.path;
  }

  get target(): UpstreamTarget {
    return this.sel.target;
  }

  get origin(): string {
    return this.sel.origin;
  }

  /** Whether the current pick is a local backend (else a peer node). */
  get local(): boolean {
    return this.sel.peerName === undefined;
  }

  /** Prepares the next attempt's body; false when the body cannot be sent again. */
  nextBody(): boolean {
    const u = this.upload;
    if (u === null) return true;
    // A body whose start was not kept (too large, or stalled) cannot be sent again.
    if (this.attempts > 0 && !u.replayable) return false;
    this.body = u.stream();
    return true;
  }
}
