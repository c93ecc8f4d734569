// One proxied request, as its steps (admit → choose → attempt/retry → answer) share it. It is also the
// request each attempt hands to the upstream, so an attempt allocates nothing of its own.

import type { Server } from "bun";
import type { AttemptSignal, UpstreamRequest } from "./forward.ts";
import { prepareRequestHeaders } from "./headers.ts";
import type { ClientHead, ForwardingInfo } from "./request-head.ts";
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
  /** Whether any attempt may have reached an upstream (otherwise nothing was served anywhere). */
  sent = false;
  /** The body could not be given to another attempt (its start was not kept). */
  bodyLost = false;
  /** The current attempt's counters and start time. */
  targetStats: TargetStats | null = null;
  t0 = 0;
  /** The upstream's fields, serialised once for the pooled client. */
  readonly fields: OutgoingFields;
  private headersPrepared = false;

  constructor(
    readonly req: Request,
    readonly server: Server<unknown>,
    readonly path: string,
    /** The request came from a cluster member: served here, never forwarded again. */
    readonly fromMember: boolean,
    readonly sel: Selection,
    readonly signal: AttemptSignal,
    /** The request body across attempts, or null when there is none. */
    readonly upload: RequestBody | null,
    head: ClientHead,
    private readonly info: ForwardingInfo,
  ) {
    this.method = req.method;
    this.idempotent = IDEMPOTENT.has(this.method);
    this.fields = head.forUpstream(info);
  }

  /** The request's Headers prepared for the upstream (fetch); made on first use, the pooled path never needs it. */
  get headers(): Headers {
    const h = this.req.headers;
    if (!this.headersPrepared) {
      this.headersPrepared = true;
      prepareRequestHeaders(h, this.info);
    }
    return h;
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
