// A purpose-built HTTP/1.1 upstream client on Bun.connect: per-target keep-alive pools, request and
// response bodies streamed with backpressure, strict response parsing. It answers with a standard
// Response so the forwarder can use it in place of fetch for plain-HTTP upstreams.

import type { Conn } from "./connection.ts";
import { UpstreamError } from "./errors.ts";
import { Exchange, type ExchangeEnv } from "./exchange.ts";
import { HeadWriter, type OutgoingFields } from "./head.ts";
import { DEFAULT_LIMITS, type ParserLimits } from "./parser.ts";
import { Pool } from "./pool.ts";

export { UpstreamError } from "./errors.ts";
export type { UpstreamFailure } from "./errors.ts";
export type { OutgoingFields } from "./head.ts";

export interface UpstreamTarget {
  /** Resolved IP (preferred) or host name. */
  host: string;
  port: number;
}

/**
 * What the client needs of an abort signal. An AbortSignal is one; the proxy passes a lighter object of
 * its own that also fires on the response timeout, so a request allocates no AbortController.
 */
export interface UpstreamSignal {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: EventListenerObject): void;
  removeEventListener(type: "abort", listener: EventListenerObject): void;
}

export interface UpstreamClientOptions {
  /** Idle keep-alive connections kept per target (default 256). */
  maxIdlePerTarget?: number;
  /** Open connections per target; requests beyond it wait for one (default 0 = no cap). */
  maxConnsPerTarget?: number;
  /** Give up connecting after this long (default 5000; 0 = never). */
  connectTimeoutMs?: number;
  /** Close connections idle this long (default 4000; keep it below the upstreams' own keep-alive timeout). */
  idleTimeoutMs?: number;
  /**
   * Response bodies of known length up to this size are read whole and answered as one buffer, not
   * streamed (default 8 KiB; 0 = always stream). Small: Bun.serve writes a buffer body that arrives after
   * an await in one send() only while head+body fit its 16 KiB cork buffer; beyond that it sends each
   * head fragment separately (~14 send() calls), whereas a streamed body leaves in two.
   */
  collectBodyMaxBytes?: number;
  /** Bytes of a streamed response body read ahead of the consumer before the socket is paused (default 64 KiB). */
  bodyHighWaterMark?: number;
  /** Stream response bodies through Bun's "direct" ReadableStream rather than a standard one (default true). */
  directBody?: boolean;
  /** Parser limits (header size and count, chunk-size line, trailers). */
  limits?: Partial<ParserLimits>;
}

export interface UpstreamStats {
  /** Open connections (connecting, busy or idle). */
  open: number;
  idle: number;
  /** Connections ever opened. */
  created: number;
  /** Requests served on a connection that had served one before. */
  reused: number;
  /** Requests waiting for a connection under maxConnsPerTarget. */
  waiting: number;
}

/** Scratch buffer for request heads; grown when a head does not fit. */
const SCRATCH_BYTES = 16 * 1024;

export class UpstreamClient implements ExchangeEnv {
  private readonly pools = new Map<string, Pool>();
  /** Targets are usually long-lived objects: find their pool without building a key string. */
  private readonly byTarget = new WeakMap<UpstreamTarget, Pool>();
  private readonly head = new HeadWriter();
  private scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  private readonly sweeper: ReturnType<typeof setInterval>;
  private closed = false;
  private readonly maxIdle: number;
  private readonly maxConns: number;
  private readonly connectTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly limits: Readonly<ParserLimits>;
  readonly collectMax: number;
  readonly directBody: boolean;
  readonly bodyHighWaterMark: number;
  readonly bodyStrategy: QueuingStrategy<Uint8Array>;

  constructor(opts: UpstreamClientOptions = {}) {
    this.maxIdle = opts.maxIdlePerTarget ?? 256;
    this.maxConns = opts.maxConnsPerTarget ?? 0;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 4000;
    this.collectMax = opts.collectBodyMaxBytes ?? 8 * 1024;
    this.directBody = opts.directBody ?? true;
    this.bodyHighWaterMark = opts.bodyHighWaterMark ?? 64 * 1024;
    this.bodyStrategy = { highWaterMark: this.bodyHighWaterMark, size: byteLength };
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    const every = Math.max(100, Math.min(1000, this.idleTimeoutMs / 2));
    this.sweeper = setInterval(() => this.expire(), every);
    this.sweeper.unref();
  }

  /**
   * Sends the request; resolves with a Response whose body streams from the socket (null for
   * HEAD/204/304) and whose fields are end-to-end only (hop-by-hop ones are this client's business).
   * Rejects with UpstreamError. `headers` must already be prepared for the upstream (hop-by-hop fields
   * removed), as a Headers or as fields the caller serialised itself; Host is added from the target when
   * missing. A body is sent with the declared Content-Length (enforced), else chunked.
   */
  request(
    target: UpstreamTarget,
    method: string,
    pathAndQuery: string,
    headers: Headers | OutgoingFields,
    body: ReadableStream<Uint8Array> | null,
    signal: UpstreamSignal,
  ): Promise<Response> {
    const pool = this.byTarget.get(target) ?? this.poolFor(target);
    if (this.closed) return Promise.reject(new UpstreamError("unsent", "client_closed", pool.label));
    if (signal.aborted) return Promise.reject(new UpstreamError("unsent", "aborted", pool.label));
    const h = this.head;
    const fields = headers instanceof Headers ? h.fieldsOf(headers) : headers;
    const text = h.frame(method, pathAndQuery, fields, pool.hostHeader, body !== null);
    // Admission applies the same rule (parseContentLength), so this only guards direct callers.
    if (text === null) return Promise.reject(new UpstreamError("invalid", "bad_content_length", pool.label));
    return new Exchange(this, pool, method, text, h.mode, h.bodyLength, body, signal).run();
  }

  /** Drops every connection to `host:port` now (busy ones fail); a later request starts a new pool. */
  abandon(host: string, port: number): void {
    const key = `${host}:${port}`;
    const pool = this.pools.get(key);
    if (!pool) return;
    this.pools.delete(key);
    pool.abandon();
  }

  /** Closes idle connections now and the others as their exchanges end; later requests are refused. */
  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const p of this.pools.values()) p.close();
  }

  stats(): UpstreamStats {
    const s = { open: 0, idle: 0, created: 0, reused: 0, waiting: 0 };
    for (const p of this.pools.values()) {
      s.open += p.open;
      s.idle += p.idleCount;
      s.created += p.created;
      s.reused += p.reused;
      s.waiting += p.waiting;
    }
    return s;
  }

  /** ExchangeEnv: Latin-1 into the scratch buffer, one write; copied only if the socket cannot take it all. */
  writeHead(conn: Conn, head: string): void {
    if (head.length > this.scratch.length) this.scratch = Buffer.allocUnsafe(Math.max(head.length, this.scratch.length * 2));
    conn.sendScratch(this.scratch, this.scratch.write(head, 0, "latin1"));
  }

  private poolFor(target: UpstreamTarget): Pool {
    const key = `${target.host}:${target.port}`;
    let pool = this.pools.get(key);
    if (pool === undefined) {
      pool = new Pool(target.host, target.port, {
        maxIdle: this.maxIdle,
        maxConns: this.maxConns,
        connectTimeoutMs: this.connectTimeoutMs,
        limits: this.limits,
      });
      this.pools.set(key, pool);
    }
    this.byTarget.set(target, pool);
    return pool;
  }

  private expire(): void {
    const now = performance.now();
    for (const p of this.pools.values()) p.expire(now, this.idleTimeoutMs);
  }
}

function byteLength(chunk?: Uint8Array): number {
  return chunk === undefined ? 0 : chunk.byteLength;
}
