// Connections to one upstream target: a bounded LIFO stack of idle keep-alive connections (the most
// recently used first, so the rest can age out), an optional cap on open connections with a FIFO of
// exchanges waiting for one, and idle expiry.

import { Conn, type ConnOwner } from "./connection.ts";
import type { Exchange, ExchangePool } from "./exchange.ts";
import { hostHeaderFor } from "./head.ts";
import type { ParserLimits } from "./parser.ts";

export interface PoolOptions {
  maxIdle: number;
  /** 0 = no cap. */
  maxConns: number;
  connectTimeoutMs: number;
  limits: Readonly<ParserLimits>;
}

export class Pool implements ConnOwner, ExchangePool {
  readonly label: string;
  /** Host header for requests whose headers carry none. */
  readonly hostHeader: string;
  private readonly idle: Conn[] = [];
  /** Every open connection (idle or busy), so a pool can be abandoned at once. */
  private readonly conns = new Set<Conn>();
  private waiters: (Exchange | undefined)[] = [];
  private waitHead = 0;
  private closing = false;
  open = 0;
  created = 0;
  reused = 0;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly o: PoolOptions,
  ) {
    this.label = `${host}:${port}`;
    this.hostHeader = hostHeaderFor(host, port);
  }

  get idleCount(): number {
    return this.idle.length;
  }

  get waiting(): number {
    return this.waiters.length - this.waitHead;
  }

  acquire(ex: Exchange): void {
    const idle = this.idle;
    while (idle.length > 0) {
      const c = idle.pop()!;
      c.idleIndex = -1;
      if (!c.isOpen) continue;
      this.reused++;
      c.setRef(true);
      ex.assign(c);
      return;
    }
    if (this.o.maxConns === 0 || this.open < this.o.maxConns) {
      ex.assign(this.connect());
      return;
    }
    ex.waiting = true;
    this.waiters.push(ex);
  }

  acquireFresh(ex: Exchange): void {
    ex.assign(this.connect());
  }

  withdraw(ex: Exchange): void {
    // Lazy removal: the slot is skipped when its turn comes.
    const i = this.waiters.indexOf(ex, this.waitHead);
    if (i >= 0) this.waiters[i] = undefined;
    ex.waiting = false;
  }

  release(conn: Conn): void {
    const next = this.nextWaiter();
    if (next !== undefined) {
      this.reused++;
      next.assign(conn);
      return;
    }
    if (this.closing || this.idle.length >= this.o.maxIdle) {
      conn.end();
      return;
    }
    conn.idleSince = performance.now();
    conn.idleIndex = this.idle.length;
    this.idle.push(conn);
    conn.setRef(false);
  }

  // ---- ConnOwner ----

  connClosed(conn: Conn): void {
    this.open--;
    this.conns.delete(conn);
    const i = conn.idleIndex;
    if (i >= 0) {
      const last = this.idle.pop()!;
      if (last !== conn) {
        this.idle[i] = last;
        last.idleIndex = i;
      }
      conn.idleIndex = -1;
    }
    // A slot under the cap freed up: start a connection for the next waiter.
    if (this.o.maxConns > 0 && this.open < this.o.maxConns && !this.closing) {
      const next = this.nextWaiter();
      if (next !== undefined) next.assign(this.connect());
    }
  }

  connUnused(conn: Conn): void {
    this.release(conn);
  }

  /** Closes idle connections unused for `maxAgeMs`. */
  expire(now: number, maxAgeMs: number): void {
    const idle = this.idle;
    for (let i = idle.length - 1; i >= 0; i--) {
      const c = idle[i];
      if (c !== undefined && now - c.idleSince >= maxAgeMs) c.end(); // end() → connClosed removes it
    }
  }

  /** Closes idle connections now and every connection once its exchange ends; new exchanges still work. */
  close(): void {
    this.closing = true;
    while (this.idle.length > 0) this.idle[this.idle.length - 1]!.end();
  }

  private connect(): Conn {
    this.open++;
    this.created++;
    const c = new Conn(this, this.host, this.port, this.o.connectTimeoutMs, this.o.limits);
    this.conns.add(c);
    return c;
  }

  /**
   * The target is gone (a peer declared suspect or dead): destroys every connection now, busy ones
   * included, so their exchanges fail at once ("broken", retried elsewhere when safe) instead of
   * waiting for a response that will not come.
   */
  abandon(): void {
    this.closing = true;
    for (const c of [...this.conns]) c.kill("target_gone");
  }

  private nextWaiter(): Exchange | undefined {
    const w = this.waiters;
    while (this.waitHead < w.length) {
      const ex = w[this.waitHead];
      w[this.waitHead++] = undefined;
      if (ex !== undefined && ex.waiting) {
        if (this.waitHead === w.length) this.reset();
        return ex;
      }
    }
    this.reset();
    return undefined;
  }

  private reset(): void {
    if (this.waitHead > 0) {
      this.waiters = [];
      this.waitHead = 0;
    }
  }
}
