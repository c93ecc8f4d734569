// One request/response exchange over a pooled connection: writes the head, pumps the request body
// with backpressure, turns the parsed response into a Response whose body streams from the socket,
// and decides at the end whether the connection may be reused. It also retries once, on a fresh
// connection, when a reused connection turns out to have been closed by the server before it saw
// anything of this request.
//
// The exchange object is its own abort listener (handleEvent) and the owner its response body
// reports to, so a request allocates no closures beyond its promise.

import { type BodyChannel, type BodyOwner, DirectBody, QueuedBody } from "./body.ts";
import type { UpstreamSignal } from "./client.ts";
import type { Conn, ConnUser } from "./connection.ts";
import { UpstreamError, type UpstreamFailure } from "./errors.ts";
import { BODY_CHUNKED, BODY_LENGTH, type BodyMode } from "./head.ts";
import { connectionListed, isHopByHop } from "./hopbyhop.ts";
import { FRAMING_LENGTH, FRAMING_NONE, type ResponseHead } from "./parser.ts";

/** What an exchange needs from its pool. */
export interface ExchangePool {
  readonly label: string;
  /** Assigns a connection now (idle or new) or queues the exchange until one frees up. */
  acquire(ex: Exchange): void;
  /** A new connection regardless of idle ones and of the connection cap (stale-connection retry). */
  acquireFresh(ex: Exchange): void;
  /** The exchange no longer wants a connection (it was queued). */
  withdraw(ex: Exchange): void;
  /** The exchange is done with a reusable connection. */
  release(conn: Conn): void;
}

/** What an exchange needs from its client (shared, per-client state). */
export interface ExchangeEnv {
  /** Writes a request head through the client's reusable scratch buffer. */
  writeHead(conn: Conn, head: string): void;
  /** Bodies with a known length up to this many bytes are collected and answered as one buffer. */
  readonly collectMax: number;
  /** Stream bodies through Bun's direct ReadableStream (else a standard one). */
  readonly directBody: boolean;
  readonly bodyHighWaterMark: number;
  readonly bodyStrategy: QueuingStrategy<Uint8Array>;
}

const P_WAIT = 0; // no connection yet (queued)
const P_SENT = 1; // on a connection, no response head yet
const P_BODY = 2; // response head parsed, body arriving
const P_DONE = 3;

const LAST_CHUNK = Buffer.from("0\r\n\r\n");
const CRLF_LAST_CHUNK = Buffer.from("\r\n0\r\n\r\n");
/** Request body chunks up to this size are framed with one copy into a single write. */
const COALESCE_MAX = 16 * 1024;

export class Exchange implements ConnUser, EventListenerObject, BodyOwner {
  readonly promise: Promise<Response>;
  private resolve!: (r: Response) => void;
  private reject!: (e: UpstreamError) => void;
  private phase = P_WAIT;
  /** Queued in the pool waiting for a connection. */
  waiting = false;
  private conn: Conn | null = null;
  private retried = false;
  /** A chunk of the request body has been taken from the caller's stream (it cannot be sent again). */
  private bodyTouched = false;
  private pumping = false;
  private reader: { cancel(): Promise<void> } | null = null;
  private reqDone = false;
  private chunkedAny = false;
  private channel: BodyChannel | null = null;
  private collected: Buffer[] | null = null;
  private collectedLen = 0;
  private init: ResponseInit | null = null;

  constructor(
    private readonly env: ExchangeEnv,
    private readonly pool: ExchangePool,
    private readonly method: string,
    private readonly head: string,
    private readonly bodyMode: BodyMode,
    private readonly bodyLength: number,
    private readonly body: ReadableStream<Uint8Array> | null,
    private readonly signal: UpstreamSignal,
  ) {
    this.promise = new Promise<Response>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  run(): Promise<Response> {
    if (this.body === null) this.reqDone = true;
    this.signal.addEventListener("abort", this);
    this.pool.acquire(this);
    return this.promise;
  }

  /** The pool gives this exchange a connection (open, or still connecting: writes queue until it opens). */
  assign(conn: Conn): void {
    this.waiting = false;
    this.conn = conn;
    this.phase = P_SENT;
    conn.attach(this, this.method !== "HEAD");
    this.env.writeHead(conn, this.head);
    if (this.body === null) return;
    if (!this.pumping) {
      this.pumping = true;
      void this.pump();
    } else if (this.reqDone && this.bodyMode === BODY_CHUNKED) {
      // Retry after an empty body had already been terminated on the stale connection.
      conn.send(LAST_CHUNK, false);
    }
  }

  // ---- request body ----

  private async pump(): Promise<void> {
    const reader = this.body!.getReader();
    this.reader = reader;
    let sent = 0;
    try {
      for (;;) {
        const r = await reader.read();
        if (this.phase === P_DONE) return this.dropBody();
        if (r.done) break;
        const chunk = r.value;
        const len = chunk.byteLength;
        if (len === 0) continue;
        this.bodyTouched = true;
        const conn = this.conn!;
        if (this.bodyMode === BODY_LENGTH) {
          sent += len;
          if (sent > this.bodyLength) return this.failBody("request_body_too_long");
          conn.send(chunk, false);
          if (sent === this.bodyLength) {
            // All declared bytes are out: count the request as sent now rather than after one more read,
            // so a fast response finds the connection reusable.
            reader.releaseLock();
            this.reader = null;
            this.requestSent();
            return;
          }
        } else {
          this.sendChunk(conn, chunk, len);
        }
        if (!conn.writable) {
          await conn.drained();
          if (this.phase === P_DONE) return this.dropBody();
        }
      }
      if (this.bodyMode === BODY_LENGTH && sent !== this.bodyLength) return this.failBody("request_body_short");
      if (this.bodyMode === BODY_CHUNKED) this.conn!.send(this.chunkedAny ? CRLF_LAST_CHUNK : LAST_CHUNK, false);
      this.reader = null;
      this.requestSent();
    } catch {
      // The caller's body stream failed (e.g. the client went away mid-upload).
      this.reader = null;
      this.fail("broken", "request_body_error");
    }
  }

  /** Chunked framing; the CRLF that ends a chunk's data travels with the next chunk's size line. */
  private sendChunk(conn: Conn, chunk: Uint8Array, len: number): void {
    const prefix = (this.chunkedAny ? "\r\n" : "") + len.toString(16) + "\r\n";
    this.chunkedAny = true;
    if (len <= COALESCE_MAX) {
      const buf = Buffer.allocUnsafe(prefix.length + len);
      buf.write(prefix, 0, "latin1");
      buf.set(chunk, prefix.length);
      conn.send(buf, false);
    } else {
      conn.send(Buffer.from(prefix, "latin1"), false);
      conn.send(chunk, false);
    }
  }

  private dropBody(): void {
    const r = this.reader;
    this.reader = null;
    if (r !== null) r.cancel().then(undefined, ignore);
  }

  private failBody(code: string): void {
    this.fail("broken", code);
  }

  private requestSent(): void {
    // If the response already ended, finish() ran (and dropped the connection); otherwise
    // responseEnded() sees this flag and keeps the connection.
    this.reqDone = true;
  }

  // ---- response (ConnUser + ResponseSink) ----

  onHead(h: ResponseHead): void {
    const conn = this.conn!;
    conn.keepAlive = h.keepAlive;
    // The caller gets end-to-end fields only: hop-by-hop ones describe this connection, which we own.
    const headers = new Headers();
    const f = h.fields;
    let listed: Set<string> | null = null;
    for (let i = 0; i < f.length; i += 2) {
      const name = f[i]!.toLowerCase();
      if (isHopByHop(name)) {
        if (name === "connection") listed = connectionListed(f[i + 1]!);
        continue;
      }
      headers.append(name, f[i + 1]!);
    }
    if (listed !== null) for (const n of listed) headers.delete(n);
    const init: ResponseInit = { status: h.status, statusText: h.reason, headers };
    // The phase moves on only once the Response exists: if constructing it throws, the parser's
    // error path still finds the promise unsettled and rejects it.
    if (h.framing === FRAMING_NONE) {
      this.resolve(new Response(null, init));
    } else if (h.framing === FRAMING_LENGTH && h.contentLength <= this.env.collectMax) {
      this.init = init;
      this.collected = [];
    } else {
      const env = this.env;
      const ch = env.directBody ? new DirectBody(this, env.bodyHighWaterMark) : new QueuedBody(this, env.bodyStrategy);
      this.channel = ch;
      this.resolve(new Response(ch.stream, init));
    }
    this.phase = P_BODY;
  }

  onBody(chunk: Buffer): void {
    const c = this.channel;
    if (c !== null) {
      c.push(chunk);
    } else if (this.collected !== null) {
      this.collected.push(chunk);
      this.collectedLen += chunk.length;
    }
  }

  backlogged(): boolean {
    const c = this.channel;
    return c !== null && c.backlogged();
  }

  responseProgress(conn: Conn, done: boolean, extraBytes: boolean): void {
    // Bytes after the end of the response: the server is out of step, so the connection is not reused.
    if (extraBytes) conn.keepAlive = false;
    if (done) this.responseEnded();
  }

  responseInvalid(_conn: Conn, code: string): void {
    this.fail("broken", code);
  }

  connectionLost(conn: Conn, code: string): void {
    if (this.phase === P_DONE) return;
    this.conn = null;
    if (this.phase === P_BODY) {
      if (conn.parser.closeDelimited) {
        conn.parser.finish();
        this.responseEnded();
        return;
      }
      this.fail("broken", conn.parser.started ? "truncated" : code);
      return;
    }
    // No response head yet. A reused connection that died before any response byte was most likely
    // closed by the server while idle: retry once on a new connection, if the body can be replayed.
    if (conn.uses > 1 && !conn.parser.started && !this.retried && !this.bodyTouched && code !== "connect_timeout") {
      this.retried = true;
      this.phase = P_WAIT;
      this.pool.acquireFresh(this);
      return;
    }
    // Only a socket that could not be opened is a connect failure (after a stale-connection retry too:
    // that server had closed the old one without reading the request). A connection lost after it
    // opened, or one we tore down ourselves, says nothing about the target's health.
    this.fail(conn.connectFailed ? "connect" : conn.wrote ? "broken" : "unsent", code);
  }

  private responseEnded(): void {
    if (this.collected !== null) {
      const parts = this.collected;
      this.collected = null;
      const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.collectedLen);
      this.resolve(new Response(body, this.init!));
      this.init = null;
    } else if (this.channel !== null) {
      this.channel.end();
      this.channel = null;
    }
    if (this.reqDone) this.finish(true);
    else {
      // The server answered before the request body was sent: the connection cannot be reused.
      this.finish(false);
    }
  }

  // ---- BodyOwner (the response body consumer's side) ----

  pauseReading(): void {
    this.conn?.pause();
  }

  resumeReading(): void {
    this.conn?.resume();
  }

  bodyCancelled(): void {
    // The consumer (the client) went away: drop the connection mid-body.
    this.channel = null;
    if (this.phase !== P_DONE) this.abortWith("broken", "body_cancelled");
  }

  // ---- abort signal ----

  handleEvent(): void {
    if (this.phase === P_DONE) return;
    this.abortWith(this.conn !== null && this.conn.wrote ? "broken" : "unsent", "aborted");
  }

  private abortWith(failure: UpstreamFailure, code: string): void {
    this.fail(failure, code);
  }

  // ---- endings ----

  /** Ends the exchange normally; the connection goes back to the pool if it can carry another request. */
  private finish(reusable: boolean): void {
    this.phase = P_DONE;
    this.signal.removeEventListener("abort", this);
    const conn = this.conn;
    this.conn = null;
    if (conn === null) return;
    conn.detach();
    conn.resume(); // an idle connection must keep reading, to notice the server closing it
    // Request bytes still queued (a server that answered without reading all of the body) would
    // delay the next exchange behind them: such a connection is not reused either.
    if (reusable && conn.keepAlive && conn.isOpen && conn.writable) this.pool.release(conn);
    else if (reusable) conn.end();
    else conn.destroy();
    if (!reusable) this.dropBody();
  }

  /** Ends the exchange with an error: rejects the response or errors its body, and drops the connection. */
  fail(failure: UpstreamFailure, code: string): void {
    if (this.phase === P_DONE) return;
    const phase = this.phase;
    this.phase = P_DONE;
    this.signal.removeEventListener("abort", this);
    const err = new UpstreamError(failure, code, this.pool.label);
    if (phase !== P_BODY || this.collected !== null) {
      this.collected = null;
      this.reject(err);
    } else if (this.channel !== null) {
      const c = this.channel;
      this.channel = null;
      c.fail(err);
    }
    if (this.waiting) this.pool.withdraw(this);
    const conn = this.conn;
    this.conn = null;
    if (conn !== null) conn.destroy();
    this.dropBody();
  }
}

function ignore(): void {}
