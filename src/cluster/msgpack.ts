// msgpack exactly as go-msgpack 0.5.5 `MsgpackHandle{}` writes it (memberlist-wire.md §3):
// strings and []byte as legacy raw (a0–bf, da, db — never d9 or bin), unsigned/int in the
// smallest unsigned form, structs as maps keyed by Go field names sorted bytewise.
// Decoding is lenient the way Go's decoder is: any int form, nil → zero, raw/str/bin, bool from 0/1,
// unknown keys skipped. Every decode error is a WireError ("truncated" or "msgpack").

import { type Vsn, WireError } from "./messages.ts";

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const TWO32 = 0x1_0000_0000;

/** Growable output buffer. One instance can be reused: reset(), write, finish() copies out. */
export class MsgpackWriter {
  private buf: Uint8Array;
  private view: DataView;
  pos = 0;

  constructor(initialSize = 512) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
  }

  reset(): this {
    this.pos = 0;
    return this;
  }

  private ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** Appends bytes verbatim (no msgpack header). */
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  u16(n: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, n);
    this.pos += 2;
  }

  u32(n: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, n);
    this.pos += 4;
  }

  nil(): void {
    this.byte(0xc0);
  }

  bool(b: boolean): void {
    this.byte(b ? 0xc3 : 0xc2);
  }

  /** Unsigned integer in the smallest form (fixint, cc, cd, ce, cf). */
  uint(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > MAX_SAFE) {
      throw new WireError("invalid", `msgpack: not an unsigned integer: ${n}`);
    }
    if (n <= 0x7f) this.byte(n);
    else if (n <= 0xff) {
      this.ensure(2);
      this.buf[this.pos++] = 0xcc;
      this.buf[this.pos++] = n;
    } else if (n <= 0xffff) {
      this.byte(0xcd);
      this.u16(n);
    } else if (n < TWO32) {
      this.byte(0xce);
      this.u32(n);
    } else {
      this.byte(0xcf);
      this.u32(Math.floor(n / TWO32));
      this.u32(n >>> 0);
    }
  }

  /** Go `int` as go-msgpack 0.5.5 writes it: non-negative → unsigned form, negative → smallest signed form. */
  int(n: number): void {
    if (!Number.isInteger(n) || Math.abs(n) > MAX_SAFE) {
      throw new WireError("invalid", `msgpack: not an integer: ${n}`);
    }
    if (n >= 0) return this.uint(n);
    if (n >= -32) this.byte(n & 0xff);
    else if (n >= -0x80) {
      this.byte(0xd0);
      this.byte(n & 0xff);
    } else if (n >= -0x8000) {
      this.byte(0xd1);
      this.u16(n & 0xffff);
    } else if (n >= -0x8000_0000) {
      this.byte(0xd2);
      this.u32(n >>> 0);
    } else {
      this.byte(0xd3);
      this.ensure(8);
      this.view.setBigInt64(this.pos, BigInt(n));
      this.pos += 8;
    }
  }

  /** Legacy raw header: fixstr (<32), da+u16, db+u32. */
  rawHeader(len: number): void {
    if (len < 32) this.byte(0xa0 | len);
    else if (len <= 0xffff) {
      this.byte(0xda);
      this.u16(len);
    } else {
      this.byte(0xdb);
      this.u32(len);
    }
  }

  /** A Go []byte (non-nil): raw header + bytes. */
  raw(b: Uint8Array): void {
    this.rawHeader(b.length);
    this.bytes(b);
  }

  /** A Go string: UTF-8 bytes as legacy raw. ASCII (the usual node name) is written without a temp buffer. */
  str(s: string): void {
    const n = s.length;
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (s.charCodeAt(i) > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (!ascii) return this.raw(utf8.encode(s));
    this.rawHeader(n);
    this.ensure(n);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) buf[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  mapHeader(n: number): void {
    if (n < 16) this.byte(0x80 | n);
    else if (n <= 0xffff) {
      this.byte(0xde);
      this.u16(n);
    } else {
      this.byte(0xdf);
      this.u32(n);
    }
  }

  /** A copy of everything written since reset(). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8");

function truncated(what: string): WireError {
  return new WireError("truncated", `msgpack: truncated ${what}`);
}

function bad(what: string): WireError {
  return new WireError("msgpack", `msgpack: ${what}`);
}

/** Bytes → string; short ASCII strings (field names, node names) skip TextDecoder. */
function decodeString(buf: Uint8Array, start: number, end: number): string {
  if (end - start <= 64) {
    let s = "";
    for (let i = start; i < end; i++) {
      const c = buf[i];
      if (c > 0x7f) return utf8Decoder.decode(buf.subarray(start, end));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8Decoder.decode(buf.subarray(start, end));
}

/** Cursor over a buffer that decodes one msgpack value per call. Never reads past `end`. */
export class MsgpackReader {
  private readonly view: DataView;

  constructor(
    readonly buf: Uint8Array,
    public pos = 0,
    readonly end = buf.length,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.end - this.pos < n) throw truncated(what);
  }

  peek(): number {
    this.need(1, "value");
    return this.buf[this.pos];
  }

  /** Consumes a nil (c0) if it is next. */
  tryNil(): boolean {
    if (this.pos < this.end && this.buf[this.pos] === 0xc0) {
      this.pos++;
      return true;
    }
    return false;
  }

  /** Any msgpack integer form (signed or unsigned, any width) as a JS number; beyond ±2^53 is an error. */
  readInt(): number {
    this.need(1, "integer");
    const b = this.buf[this.pos++];
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    const v = this.view;
    switch (b) {
      case 0xcc:
        this.need(1, "uint8");
        return this.buf[this.pos++];
      case 0xcd:
        this.need(2, "uint16");
        this.pos += 2;
        return v.getUint16(this.pos - 2);
      case 0xce:
        this.need(4, "uint32");
        this.pos += 4;
        return v.getUint32(this.pos - 4);
      case 0xcf: {
        this.need(8, "uint64");
        const hi = v.getUint32(this.pos);
        const lo = v.getUint32(this.pos + 4);
        this.pos += 8;
        const n = hi * TWO32 + lo;
        if (n > MAX_SAFE) throw bad(`uint64 ${n} out of range`);
        return n;
      }
      case 0xd0:
        this.need(1, "int8");
        this.pos += 1;
        return v.getInt8(this.pos - 1);
      case 0xd1:
        this.need(2, "int16");
        this.pos += 2;
        return v.getInt16(this.pos - 2);
      case 0xd2:
        this.need(4, "int32");
        this.pos += 4;
        return v.getInt32(this.pos - 4);
      case 0xd3: {
        this.need(8, "int64");
        const hi = v.getInt32(this.pos);
        const lo = v.getUint32(this.pos + 4);
        this.pos += 8;
        const n = hi * TWO32 + lo;
        if (Math.abs(n) > MAX_SAFE) throw bad(`int64 out of range`);
        return n;
      }
      default:
        this.pos--;
        throw bad(`expected integer, got 0x${b.toString(16)}`);
    }
  }

  /** An integer that must fit 0..max (Go's unsigned field types); nil → 0. */
  readUint(max: number): number {
    if (this.tryNil()) return 0;
    const n = this.readInt();
    if (n < 0 || n > max) throw bad(`integer ${n} out of range 0..${max}`);
    return n;
  }

  /** Bool from c2/c3 or 0/1 (as Go accepts); nil → false. */
  readBool(): boolean {
    this.need(1, "bool");
    const b = this.buf[this.pos++];
    if (b === 0xc2 || b === 0x00 || b === 0xc0) return false;
    if (b === 0xc3 || b === 0x01) return true;
    this.pos--;
    throw bad(`expected bool, got 0x${b.toString(16)}`);
  }

  /** Length of a raw/str/bin header, or -1 for nil. Advances past the header. */
  private readBytesHeader(): number {
    this.need(1, "bytes");
    const b = this.buf[this.pos++];
    if ((b & 0xe0) === 0xa0) return b & 0x1f;
    switch (b) {
      case 0xc0:
        return -1;
      case 0xd9:
      case 0xc4:
        this.need(1, "bytes length");
        return this.buf[this.pos++];
      case 0xda:
      case 0xc5:
        this.need(2, "bytes length");
        this.pos += 2;
        return this.view.getUint16(this.pos - 2);
      case 0xdb:
      case 0xc6:
        this.need(4, "bytes length");
        this.pos += 4;
        return this.view.getUint32(this.pos - 4);
      default:
        this.pos--;
        throw bad(`expected bytes/string, got 0x${b.toString(16)}`);
    }
  }

  /** raw/str/bin as a copied Uint8Array; nil → null. */
  readBytesOrNull(): Uint8Array | null {
    const len = this.readBytesHeader();
    if (len < 0) return null;
    this.need(len, "bytes body");
    this.pos += len;
    return this.buf.slice(this.pos - len, this.pos);
  }

  readBytes(): Uint8Array {
    return this.readBytesOrNull() ?? new Uint8Array(0);
  }

  /** raw/str/bin decoded as UTF-8; nil → "". */
  readStr(): string {
    const len = this.readBytesHeader();
    if (len <= 0) return "";
    this.need(len, "string body");
    this.pos += len;
    return decodeString(this.buf, this.pos - len, this.pos);
  }

  /** Map header (fixmap, de, df) → entry count; nil → 0 (a nil struct pointer decodes as zero). */
  readMapHeader(): number {
    this.need(1, "map");
    const b = this.buf[this.pos++];
    if ((b & 0xf0) === 0x80) return b & 0x0f;
    switch (b) {
      case 0xc0:
        return 0;
      case 0xde:
        this.need(2, "map length");
        this.pos += 2;
        return this.view.getUint16(this.pos - 2);
      case 0xdf:
        this.need(4, "map length");
        this.pos += 4;
        return this.view.getUint32(this.pos - 4);
      default:
        this.pos--;
        throw bad(`expected map, got 0x${b.toString(16)}`);
    }
  }

  /** Skips one value of any type. */
  skip(): void {
    const end = valueEnd(this.buf, this.pos, this.end);
    if (end < 0) throw truncated("value");
    this.pos = end;
  }
}

/**
 * Offset just past the msgpack value starting at `pos`, or -1 when the buffer ends first
 * (so a stream reader knows to wait for more bytes). Iterative: nesting depth costs no stack.
 * Throws WireError("msgpack") on the reserved byte c1.
 */
export function valueEnd(buf: Uint8Array, pos: number, end = buf.length): number {
  let pending = 1; // values still to skip
  while (pending > 0) {
    if (pos >= end) return -1;
    const b = buf[pos++];
    pending--;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) continue;
    if ((b & 0xe0) === 0xa0) {
      pos += b & 0x1f;
      continue;
    }
    if ((b & 0xf0) === 0x80) {
      pending += 2 * (b & 0x0f);
      continue;
    }
    if ((b & 0xf0) === 0x90) {
      pending += b & 0x0f;
      continue;
    }
    let len: number;
    switch (b) {
      case 0xcc:
      case 0xd0:
        pos += 1;
        continue;
      case 0xcd:
      case 0xd1:
        pos += 2;
        continue;
      case 0xca:
      case 0xce:
      case 0xd2:
        pos += 4;
        continue;
      case 0xcb:
      case 0xcf:
      case 0xd3:
        pos += 8;
        continue;
      case 0xd4: // fixext 1..16: type byte + data
        pos += 2;
        continue;
      case 0xd5:
        pos += 3;
        continue;
      case 0xd6:
        pos += 5;
        continue;
      case 0xd7:
        pos += 9;
        continue;
      case 0xd8:
        pos += 17;
        continue;
      case 0xc4:
      case 0xd9:
        if (pos + 1 > end) return -1;
        pos += 1 + buf[pos];
        continue;
      case 0xc5:
      case 0xda:
        if (pos + 2 > end) return -1;
        pos += 2 + ((buf[pos] << 8) | buf[pos + 1]);
        continue;
      case 0xc6:
      case 0xdb:
        if (pos + 4 > end) return -1;
        pos += 4 + readU32(buf, pos);
        continue;
      case 0xc7: // ext 8/16/32: length, type byte, data
        if (pos + 1 > end) return -1;
        pos += 2 + buf[pos];
        continue;
      case 0xc8:
        if (pos + 2 > end) return -1;
        pos += 3 + ((buf[pos] << 8) | buf[pos + 1]);
        continue;
      case 0xc9:
        if (pos + 4 > end) return -1;
        pos += 5 + readU32(buf, pos);
        continue;
      case 0xdc:
      case 0xde:
        if (pos + 2 > end) return -1;
        len = (buf[pos] << 8) | buf[pos + 1];
        pos += 2;
        pending += b === 0xde ? 2 * len : len;
        continue;
      case 0xdd:
      case 0xdf:
        if (pos + 4 > end) return -1;
        len = readU32(buf, pos);
        pos += 4;
        pending += b === 0xdf ? 2 * len : len;
        continue;
      default: // 0xc1, never used
        throw bad(`invalid byte 0x${b.toString(16)}`);
    }
  }
  return pos > end ? -1 : pos;
}

function readU32(buf: Uint8Array, pos: number): number {
  return buf[pos] * 0x100_0000 + ((buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]);
}

// ---------------------------------------------------------------------------------------------
// Struct schemas: a Go struct as a map from each TS property to its Go field name and wire type.
// A schema must name every property of T with a field of that property's type, so decoding builds a T
// without casts: untrusted bytes become only the values the fields' readers produce.

/** One Go struct field: its wire name, how its value is read and written, and what counts as zero. */
export interface Field<V> {
  /** Exact Go field name: the map key on the wire. */
  readonly go: string;
  /** Go `codec:",omitempty"`: left out when zero; a zero on the wire decodes as absent. */
  readonly omitEmpty: boolean;
  read(r: MsgpackReader): V;
  write(w: MsgpackWriter, v: V, where: string): void;
  isZero(v: V): boolean;
}

/** Every property of T, with a field of its type (optional properties take omitEmpty fields). */
export type Schema<T> = { [K in keyof T]-?: Field<Exclude<T[K], undefined>> };

function field<V>(go: string, read: (r: MsgpackReader) => V, write: (w: MsgpackWriter, v: V, where: string) => void, isZero: (v: V) => boolean): Field<V> {
  return { go, omitEmpty: false, read, write, isZero };
}

function uintField(go: string, max: number): Field<number> {
  return field(
    go,
    (r) => r.readUint(max),
    (w, v, where) => {
      if (!Number.isInteger(v) || v < 0 || v > max) throw invalid(where, v);
      w.uint(v);
    },
    (v) => v === 0,
  );
}

/** Go uint8 / uint16 / uint32. */
export const u8 = (go: string) => uintField(go, 0xff);
export const u16 = (go: string) => uintField(go, 0xffff);
export const u32 = (go: string) => uintField(go, 0xffff_ffff);

/** Go int; nil reads as 0. */
export const int = (go: string): Field<number> =>
  field(
    go,
    (r) => (r.tryNil() ? 0 : r.readInt()),
    (w, v) => w.int(v),
    (v) => v === 0,
  );

export const bool = (go: string): Field<boolean> =>
  field(
    go,
    (r) => r.readBool(),
    (w, v) => w.bool(v),
    (v) => !v,
  );

export const str = (go: string): Field<string> =>
  field(
    go,
    (r) => r.readStr(),
    (w, v) => w.str(v),
    (v) => v === "",
  );

/** Go []byte where nil and empty are the same (empty when nil). */
export const bytes = (go: string): Field<Uint8Array> =>
  field(
    go,
    (r) => r.readBytes(),
    (w, v) => w.raw(v),
    (v) => v.length === 0,
  );

/** Go []byte where nil matters: null ⇄ msgpack nil. */
export const nbytes = (go: string): Field<Uint8Array | null> =>
  field(
    go,
    (r) => r.readBytesOrNull(),
    (w, v) => (v === null ? w.nil() : w.raw(v)),
    (v) => v === null || v.length === 0,
  );

export const vsn = (go: string): Field<Vsn> =>
  field(
    go,
    (r) => {
      // Go sends exactly 6; shorter or longer is padded/truncated so the engine sees zeros
      // (PMin 0 makes it ignore the node) instead of a malformed tuple.
      const b = r.readBytes();
      const at = (i: number) => b[i] ?? 0;
      return [at(0), at(1), at(2), at(3), at(4), at(5)];
    },
    (w, v, where) => {
      // A Vsn that is not exactly 6 bytes crashes Go 0.2.2 — refuse to send one.
      if (v.length !== 6) throw new WireError("invalid", `${where}: Vsn must have 6 entries`);
      w.rawHeader(6);
      for (const x of v) {
        if (!Number.isInteger(x) || x < 0 || x > 255) throw invalid(where, v);
        w.byte(x);
      }
    },
    (v) => v.every((x) => x === 0),
  );

/** The same field, tagged omitempty. */
export function omitEmpty<V>(f: Field<V>): Field<V> {
  return { ...f, omitEmpty: true };
}

interface CompiledField<T> {
  go: string;
  keyBytes: Uint8Array; // the pre-encoded map key (raw header + name)
  nameBytes: Uint8Array; // the name alone, for matching incoming keys
  /** Whether encoding leaves this field out of `value`. */
  omitted(value: T): boolean;
  write(w: MsgpackWriter, value: T): void;
  /** Reads the field's value into `out` (an omitempty field read as zero stays absent). */
  readInto(r: MsgpackReader, out: T): void;
}

/** Encodes/decodes one Go struct as a msgpack map. */
export class StructCodec<T extends object> {
  private readonly fields: CompiledField<T>[] = [];
  private readonly byName = new Map<string, CompiledField<T>>();

  /** `zero` is what a struct with every field missing decodes as (Go's zero value). */
  constructor(
    readonly goName: string,
    private readonly zero: T,
    schema: Schema<T>,
  ) {
    for (const key in schema) this.fields.push(this.compile(key, schema[key]));
    this.fields.sort((a, b) => compareBytes(a.nameBytes, b.nameBytes));
    for (const f of this.fields) this.byName.set(f.go, f);
  }

  private compile<K extends keyof T>(key: K, f: Field<Exclude<T[K], undefined>>): CompiledField<T> {
    const keyWriter = new MsgpackWriter(64);
    keyWriter.str(f.go);
    const where = `${this.goName}.${f.go}`;
    const present = (v: T[K]): v is Exclude<T[K], undefined> => v !== undefined;
    return {
      go: f.go,
      keyBytes: keyWriter.finish(),
      nameBytes: utf8.encode(f.go),
      omitted: (value) => {
        const v = value[key];
        return f.omitEmpty && (!present(v) || f.isZero(v));
      },
      write: (w, value) => {
        const v = value[key];
        if (!present(v)) throw invalid(where, v);
        f.write(w, v, where);
      },
      readInto: (r, out) => {
        const v = f.read(r);
        if (f.omitEmpty && f.isZero(v)) delete out[key];
        else out[key] = v;
      },
    };
  }

  encode(w: MsgpackWriter, value: T): void {
    let n = 0;
    for (const f of this.fields) if (!f.omitted(value)) n++;
    w.mapHeader(n);
    for (const f of this.fields) {
      if (f.omitted(value)) continue;
      w.bytes(f.keyBytes);
      f.write(w, value);
    }
  }

  decode(r: MsgpackReader): T {
    const out: T = { ...this.zero };
    const n = r.readMapHeader();
    for (let i = 0; i < n; i++) {
      const f = this.matchKey(r);
      if (f) f.readInto(r, out);
      else r.skip();
    }
    return out;
  }

  /** Reads a map key and finds its field by comparing raw bytes (no string built on the hot path). */
  private matchKey(r: MsgpackReader): CompiledField<T> | undefined {
    const b = r.buf[r.pos];
    if (r.pos < r.end && (b & 0xe0) === 0xa0) {
      const len = b & 0x1f;
      const start = r.pos + 1;
      if (start + len <= r.end) {
        for (const f of this.fields) {
          const kb = f.nameBytes;
          if (kb.length !== len) continue;
          let k = 0;
          while (k < len && kb[k] === r.buf[start + k]) k++;
          if (k === len) {
            r.pos = start + len;
            return f;
          }
        }
      }
    }
    // Slow path: str8/str16/bin keys, or no fixstr match.
    return this.byName.get(r.readStr());
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function invalid(where: string, v: unknown): WireError {
  return new WireError("invalid", `${where}: cannot encode ${String(v)}`);
}
