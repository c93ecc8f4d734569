// Server-sent events for the status page (`GET /events` on the admin listener).
// One ticker for all clients: each second the snapshot is built and serialised once and the same
// bytes are queued to every connected client. The ticker runs only while someone listens.
// A client that goes away (abort or stream cancel) is removed at once; one that stops reading
// is dropped before its queue grows, so a stuck browser tab cannot hold memory.

import { createLogger, type Logger } from "../log.ts";

export interface EventHubOptions {
  /** Builds the document sent each tick (called once per tick, not per client). */
  snapshot: () => unknown;
  /** Tick period (default 1000 ms). */
  intervalMs?: number;
  /** A comment line this often keeps intermediaries from timing the stream out (default 15 s). */
  heartbeatMs?: number;
  /** More clients than this get 503 (default 32). */
  maxClients?: number;
  /** Unsent events a client may have queued before it is dropped (default 30). */
  maxQueued?: number;
  logger?: Logger;
}

interface Client {
  controller: ReadableStreamDefaultController<Uint8Array>;
  close(): void;
}

const enc = new TextEncoder();

export class EventHub {
  private readonly clients = new Set<Client>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastBeat = 0;
  private latest: { at: number; bytes: Uint8Array } | undefined;
  private closed = false;
  private readonly intervalMs: number;
  private readonly heartbeatMs: number;
  private readonly maxClients: number;
  private readonly maxQueued: number;
  private readonly log: Logger;
  /** Snapshots built since start (one per tick with listeners; for tests and curiosity). */
  ticks = 0;

  constructor(private readonly opts: EventHubOptions) {
    this.intervalMs = opts.intervalMs ?? 1000;
    this.heartbeatMs = opts.heartbeatMs ?? 15_000;
    this.maxClients = opts.maxClients ?? 32;
    this.maxQueued = opts.maxQueued ?? 30;
    this.log = opts.logger ?? createLogger("events");
  }

  /** Connected event-stream clients. */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Answers `GET /events`. */
  respond(req: Request): Response {
    if (this.closed) return new Response("stopping\n", { status: 503 });
    if (this.clients.size >= this.maxClients) {
      return new Response("too many event-stream clients\n", { status: 503, headers: { "retry-after": "10" } });
    }
    const headers = {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    };
    if (req.method === "HEAD") return new Response(null, { headers });

    let client: Client | undefined;
    const onAbort = () => client?.close();
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        const c: Client = {
          controller,
          close: () => {
            if (!this.clients.delete(c)) return;
            req.signal.removeEventListener("abort", onAbort);
            try {
              controller.close();
            } catch {
              // Already closed or cancelled by the reader.
            }
            if (this.clients.size === 0) this.idle();
          },
        };
        client = c;
        this.clients.add(c);
        // Reconnect after 2 s if the stream breaks; then the current state at once, not in a second.
        controller.enqueue(enc.encode("retry: 2000\n\n"));
        controller.enqueue(this.current());
        this.ensureTicking();
      },
      cancel: () => client?.close(),
    });
    req.signal.addEventListener("abort", onAbort);
    return new Response(body, { headers });
  }

  /** Ends every stream and refuses new ones (node shutdown). */
  close(): void {
    this.closed = true;
    for (const c of [...this.clients]) c.close();
    this.idle();
  }

  /** The latest tick's bytes if fresh enough, else a snapshot built now (shared by the next joiners too). */
  private current(): Uint8Array {
    const now = performance.now();
    if (!this.latest || now - this.latest.at > this.intervalMs) this.latest = { at: now, bytes: this.build() };
    return this.latest.bytes;
  }

  private build(): Uint8Array {
    this.ticks++;
    let doc: unknown;
    try {
      doc = this.opts.snapshot();
    } catch (e) {
      this.log.error("status snapshot failed", { error: e });
      doc = { error: "snapshot failed" };
    }
    return enc.encode(`data: ${JSON.stringify(doc)}\n\n`);
  }

  private ensureTicking(): void {
    if (this.timer) return;
    this.lastBeat = performance.now();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref?.();
  }

  private idle(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.latest = undefined;
  }

  private tick(): void {
    if (this.clients.size === 0) return this.idle();
    const now = performance.now();
    const bytes = this.build();
    this.latest = { at: now, bytes };
    let beat: Uint8Array | undefined;
    if (now - this.lastBeat >= this.heartbeatMs) {
      this.lastBeat = now;
      beat = enc.encode(`: heartbeat ${Math.round(Date.now() / 1000)}\n\n`);
    }
    for (const c of [...this.clients]) {
      // desiredSize goes negative by one per event the client has not taken yet.
      if ((c.controller.desiredSize ?? 0) < -this.maxQueued) {
        this.log.debug("event-stream client too slow; dropping it");
        c.close();
        continue;
      }
      try {
        if (beat) c.controller.enqueue(beat);
        c.controller.enqueue(bytes);
      } catch {
        c.close();
      }
    }
  }
}
