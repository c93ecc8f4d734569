// A raw HTTP/2 client for tests: frames written by hand over a plain TCP socket (prior knowledge, h2c),
// so a test can send what no well-behaved client would (split cookies, connection-specific fields,
// floods of RST_STREAM, CONTINUATION, SETTINGS, PING) and see every frame the server answers with.
// Header blocks are HPACK literals without indexing and without Huffman coding (RFC 7541 §6.2.2); the
// server's header blocks are not decoded: tests look at frame types, stream ids and GOAWAY codes.
import type { Socket } from "bun";

export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const enc = new TextEncoder();

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Uint8Array;
}

/** An HPACK integer with an n-bit prefix (RFC 7541 §5.1), first byte's high bits set by the caller. */
function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** A header block of literal fields without indexing (new names), no Huffman. */
export function hpackBlock(fields: [string, string][]): Uint8Array {
  const out: number[] = [];
  for (const [name, value] of fields) {
    const n = enc.encode(name);
    const v = enc.encode(value);
    out.push(0x00, ...hpackInt(n.length, 7, 0), ...n, ...hpackInt(v.length, 7, 0), ...v);
  }
  return Uint8Array.from(out);
}

export function frameBytes(type: number, flags: number, stream: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(9 + payload.length);
  const len = payload.length;
  b[0] = (len >>> 16) & 0xff;
  b[1] = (len >>> 8) & 0xff;
  b[2] = len & 0xff;
  b[3] = type;
  b[4] = flags;
  new DataView(b.buffer).setUint32(5, stream & 0x7fffffff);
  b.set(payload, 9);
  return b;
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0);
  return b;
}

export class RawH2 {
  readonly frames: Frame[] = [];
  /** Last GOAWAY received: its last stream id and error code. */
  goaway: { lastStream: number; code: number } | null = null;
  closed = false;
  readonly whenClosed: Promise<void>;
  private rx = new Uint8Array(0);
  private waiters: (() => void)[] = [];
  private sock!: Socket<undefined>;
  private nextStream = 1;

  private constructor() {
    let resolve!: () => void;
    this.whenClosed = new Promise<void>((r) => {
      resolve = r;
    });
    this.onClose = resolve;
  }
  private onClose: () => void;

  /**
   * Opens a cleartext connection with the HTTP/2 preface and our SETTINGS (`settings`: id → value,
   * e.g. a zero initial window), and acknowledges the server's SETTINGS as they come.
   */
  static async connect(port: number, settings: [number, number][] = [], host = "127.0.0.1"): Promise<RawH2> {
    const c = new RawH2();
    c.sock = await Bun.connect({
      hostname: host,
      port,
      socket: {
        data: (_s, d) => c.onData(d),
        close: () => c.markClosed(),
        error: () => c.markClosed(),
      },
    });
    const p: number[] = [];
    for (const [id, v] of settings) p.push((id >> 8) & 0xff, id & 0xff, ...u32(v));
    c.write(PREFACE);
    c.send(FRAME.SETTINGS, 0, 0, Uint8Array.from(p));
    return c;
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private onData(d: Uint8Array): void {
    const buf = new Uint8Array(this.rx.length + d.length);
    buf.set(this.rx);
    buf.set(d, this.rx.length);
    let off = 0;
    while (buf.length - off >= 9) {
      const len = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
      if (buf.length - off < 9 + len) break;
      const f: Frame = {
        type: buf[off + 3]!,
        flags: buf[off + 4]!,
        stream: new DataView(buf.buffer, buf.byteOffset + off + 5, 4).getUint32(0) & 0x7fffffff,
        payload: buf.slice(off + 9, off + 9 + len),
      };
      off += 9 + len;
      this.frames.push(f);
      if (f.type === FRAME.SETTINGS && !(f.flags & FLAG.ACK)) this.send(FRAME.SETTINGS, FLAG.ACK, 0);
      if (f.type === FRAME.GOAWAY) {
        const v = new DataView(f.payload.buffer, f.payload.byteOffset);
        this.goaway = { lastStream: v.getUint32(0) & 0x7fffffff, code: v.getUint32(4) };
      }
    }
    this.rx = buf.slice(off);
    this.wake();
  }

  /** Writes raw bytes; false when the socket is gone. Bun buffers what the kernel does not take. */
  write(b: Uint8Array): boolean {
    if (this.closed) return false;
    this.sock.write(b);
    return true;
  }

  send(type: number, flags: number, stream: number, payload?: Uint8Array): boolean {
    return this.write(frameBytes(type, flags, stream, payload));
  }

  /** A new client stream id (odd, increasing). */
  stream(): number {
    const id = this.nextStream;
    this.nextStream += 2;
    return id;
  }

  /** A GET (or other method) on a new stream; returns its id. `extra`: more fields, sent as given. */
  request(path: string, authority: string, extra: [string, string][] = [], opts: { method?: string; endStream?: boolean } = {}): number {
    const id = this.stream();
    const block = hpackBlock([[":method", opts.method ?? "GET"], [":scheme", "http"], [":authority", authority], [":path", path], ...extra]);
    this.send(FRAME.HEADERS, FLAG.END_HEADERS | (opts.endStream === false ? 0 : FLAG.END_STREAM), id, block);
    return id;
  }

  rst(stream: number, code = 8 /* CANCEL */): void {
    this.send(FRAME.RST_STREAM, 0, stream, u32(code));
  }

  windowUpdate(stream: number, inc: number): void {
    this.send(FRAME.WINDOW_UPDATE, 0, stream, u32(inc));
  }

  /** Frames received so far of `type` (on `stream` when given). */
  received(type: number, stream?: number): Frame[] {
    return this.frames.filter((f) => f.type === type && (stream === undefined || f.stream === stream));
  }

  /** Resolves when `pred` holds (checked on every arrival), or rejects after `ms`. */
  async until(pred: () => boolean, ms: number, what = "condition"): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`raw h2: timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  close(): void {
    if (!this.closed) this.sock.end();
  }
}
