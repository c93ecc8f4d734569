// An in-memory network for the gossip engine (after memberlist's mock_transport.go): many engines in one
// process, no sockets, no ports to run out of. Shared by the tests and the simulator (sim/).
// By default packets arrive on a later turn of the event loop, in order, and streams are pairs of
// in-memory pipes; a `Links` policy decides instead when (and whether) each packet and stream event
// arrives, which is how the simulator adds latency, loss, partitions and stalls on a virtual clock.
// Tests wrap a transport in FaultyTransport for loss and partitions (give each node its own address).

import { type Endpoint, Inbox, type Stream, StreamError, type Transport, type TransportHandler } from "../src/cluster/index.ts";
import { formatHostPort } from "../src/netutil.ts";

/** What travels between two transports: a datagram, a stream being opened, stream bytes or its close. */
export type Carried = "packet" | "dial" | "data";

/** When things arrive. */
export interface Links {
  /**
   * Carries one packet or stream event of `bytes` from `from` to `to`: call `deliver` later (or, for
   * "data", now), or never (lost). Stream data and closes of one stream must arrive in order.
   */
  carry(from: Endpoint, to: Endpoint, what: Carried, bytes: number, deliver: () => void): void;
  /** A timer for stream deadlines; returns its cancel. */
  after(ms: number, fn: () => void): () => void;
}

/** The real event loop: packets and new streams on the next turn, stream bytes at once, wall-clock deadlines. */
export const eventLoopLinks: Links = {
  carry: (_from, _to, what, _bytes, deliver) => {
    if (what === "data") deliver();
    else setImmediate(deliver);
  },
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

export class MemoryNetwork {
  private readonly byEndpoint = new Map<string, MemoryTransport>();
  private nextPort = 20_000;
  /** Packets delivered so far (all transports). */
  packets = 0;

  constructor(readonly links: Links = eventLoopLinks) {}

  /** A transport on `address` (default 127.0.0.1) and `port` (default: the next unused one). */
  transport(address = "127.0.0.1", port = this.nextPort++): MemoryTransport {
    const key = formatHostPort(address, port);
    if (this.byEndpoint.has(key)) throw new Error(`${key} is taken`);
    const t = new MemoryTransport(this, address, port);
    this.byEndpoint.set(key, t);
    return t;
  }

  /** @internal */
  lookup(to: Endpoint): MemoryTransport | undefined {
    return this.byEndpoint.get(formatHostPort(to.address, to.port));
  }

  /** @internal */
  remove(t: MemoryTransport): void {
    const key = formatHostPort(t.bindAddress, t.port);
    if (this.byEndpoint.get(key) === t) this.byEndpoint.delete(key);
  }

  /** @internal A port for the dialing side of a stream, as a kernel would pick one. */
  ephemeralPort(): number {
    return this.nextPort++;
  }
}

export class MemoryTransport implements Transport {
  private handler: TransportHandler | null = null;
  private closed = false;

  constructor(
    private readonly net: MemoryNetwork,
    readonly bindAddress: string,
    readonly port: number,
  ) {}

  start(handler: TransportHandler): void {
    this.handler = handler;
  }

  sendPacket(buf: Uint8Array, to: Endpoint): boolean {
    if (this.closed) return false;
    const dest = this.net.lookup(to);
    // Nobody there: lost, as UDP would be.
    if (!dest) return true;
    const copy = buf.slice();
    const from = { address: this.bindAddress, port: this.port };
    this.net.links.carry(from, to, "packet", copy.length, () => {
      if (dest.closed || !dest.handler) return;
      this.net.packets++;
      dest.handler.packet(copy, from);
    });
    return true;
  }

  async dial(to: Endpoint, timeoutMs: number): Promise<Stream> {
    const peer = formatHostPort(to.address, to.port);
    if (this.closed) throw new StreamError("closed", "transport is shut down", peer);
    const dest = this.net.lookup(to);
    if (!dest || dest.closed || !dest.handler) throw new StreamError("connect", "connection refused", peer);
    if (timeoutMs <= 0) throw new StreamError("timeout", `connect timed out after ${timeoutMs} ms`, peer);
    const [mine, theirs] = MemoryStream.pair(this.net.links, { address: this.bindAddress, port: this.net.ephemeralPort() }, to);
    const handler = dest.handler;
    this.net.links.carry(mine.local, to, "dial", 0, () => {
      if (!dest.closed) handler.stream(theirs);
    });
    return mine;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handler = null;
    this.net.remove(this);
  }
}

/** One end of an in-memory pipe. */
class MemoryStream implements Stream {
  private other!: MemoryStream;
  private readonly inbox: Inbox;
  private cancelDeadline: (() => void) | null = null;
  closed = false;

  private constructor(
    private readonly links: Links,
    readonly local: Endpoint,
    readonly remoteAddress: string,
    readonly remotePort: number,
  ) {
    this.inbox = new Inbox(formatHostPort(remoteAddress, remotePort));
  }

  /** [the dialer's end, the listener's end]. */
  static pair(links: Links, dialer: Endpoint, listener: Endpoint): [MemoryStream, MemoryStream] {
    const a = new MemoryStream(links, dialer, listener.address, listener.port);
    const b = new MemoryStream(links, listener, dialer.address, dialer.port);
    a.other = b;
    b.other = a;
    return [a, b];
  }

  private get peer(): string {
    return formatHostPort(this.remoteAddress, this.remotePort);
  }

  read(): Promise<Uint8Array | null> {
    return this.inbox.read();
  }

  write(data: Uint8Array): void {
    if (this.closed || this.inbox.error) throw this.inbox.error ?? new StreamError("closed", "write on closed stream", this.peer);
    const copy = data.slice();
    const other = this.other;
    this.links.carry(this.local, other.local, "data", copy.length, () => other.inbox.push(copy));
  }

  end(): void {
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelDeadline?.();
    this.inbox.end();
    const other = this.other;
    // after the data already on its way
    this.links.carry(this.local, other.local, "data", 0, () => other.inbox.end());
  }

  setDeadline(ms: number): void {
    this.cancelDeadline?.();
    this.cancelDeadline = this.links.after(ms, () => {
      this.inbox.fail(new StreamError("timeout", `stream deadline of ${ms} ms exceeded`, this.peer));
      this.close();
    });
  }
}
