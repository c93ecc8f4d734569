// Rate-limit usage on the wire: who counted (origin node name and its boot id), then per limit the
// buckets' admission counts. A count is cumulative, so a lost or repeated message loses or doubles
// nothing: the receiver charges the difference to the last count it saw.
//
//   u8 version | u32 boot | u8 n | n bytes origin name (UTF-8)
//   then sections: u32 limit id | u16 count | count × (6-byte bucket hash | u8 age | varint admissions)
// age: how long before sending the last of those admissions happened, in AGE_UNIT_MS (255 = that or more).

import { type Cursor, readVarint, VARINT_MAX_BYTES, VarintError, writeVarint } from "../wire/varint.ts";

export const CODEC_VERSION = 1;
/** Most bytes one entry takes: 6 hash + 1 age + the varint (counts stay below 2⁵³). */
export const MAX_ENTRY_BYTES = 7 + VARINT_MAX_BYTES;
export const AGE_UNIT_MS = 4;
export const SECTION_HEADER_BYTES = 6;

export class UsageDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageDecodeError";
  }
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Writes one message into a reused buffer. */
export class UsageWriter {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private pos = 0;
  private sectionAt = -1;
  private sectionCount = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.pos;
  }

  get room(): number {
    return this.buf.length - this.pos;
  }

  /** Starts a message; `prefix` is the user-message type byte it travels under (none in push/pull state). */
  begin(prefix: number | null, boot: number, origin: Uint8Array): void {
    this.pos = 0;
    this.sectionAt = -1;
    if (prefix !== null) this.buf[this.pos++] = prefix;
    this.buf[this.pos++] = CODEC_VERSION;
    this.view.setUint32(this.pos, boot);
    this.pos += 4;
    this.buf[this.pos++] = origin.length;
    this.buf.set(origin, this.pos);
    this.pos += origin.length;
  }

  section(limitId: number): void {
    this.closeSection();
    this.view.setUint32(this.pos, limitId);
    this.sectionAt = this.pos + 4;
    this.sectionCount = 0;
    this.pos += SECTION_HEADER_BYTES;
  }

  /** `ageMs`: since the last admission counted in `cum`. */
  entry(hash: number, cum: number, ageMs: number): void {
    this.view.setUint16(this.pos, Math.floor(hash / 0x100000000));
    this.view.setUint32(this.pos + 2, hash >>> 0);
    this.buf[this.pos + 6] = ageMs >= 255 * AGE_UNIT_MS ? 255 : ageMs > 0 ? Math.round(ageMs / AGE_UNIT_MS) : 0;
    this.pos = writeVarint(this.buf, this.pos + 7, cum);
    this.sectionCount++;
  }

  /** Entries in the open section so far (at most 65535). */
  get inSection(): number {
    return this.sectionCount;
  }

  /** The message so far, copied out. */
  finish(): Uint8Array {
    this.closeSection();
    return this.buf.slice(0, this.pos);
  }

  private closeSection(): void {
    if (this.sectionAt >= 0) this.view.setUint16(this.sectionAt, this.sectionCount);
    this.sectionAt = -1;
  }
}

/** Origin names as the wire carries them (at most 255 bytes). */
export function originBytes(name: string): Uint8Array {
  const b = utf8.encode(name);
  if (b.length > 255) throw new RangeError(`node name is ${b.length} bytes; rate-limit gossip carries at most 255`);
  return b;
}

export interface UsageHeader {
  boot: number;
  origin: string;
}

/**
 * Reads a message (without its type byte): the header, then `entry` per bucket with the section's
 * limit id. Throws UsageDecodeError on anything malformed; entries before the fault were delivered.
 */
export function decodeUsage(msg: Uint8Array, onHeader: (h: UsageHeader) => boolean, entry: (limitId: number, hash: number, cum: number, ageMs: number) => void): void {
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const need = (pos: number, n: number) => {
    if (pos + n > msg.length) throw new UsageDecodeError("truncated");
  };
  need(0, 6);
  if (msg[0] !== CODEC_VERSION) throw new UsageDecodeError(`version ${msg[0]}`);
  const boot = view.getUint32(1);
  const n = msg[5]!;
  need(6, n);
  let origin: string;
  try {
    origin = fromUtf8.decode(msg.subarray(6, 6 + n));
  } catch {
    throw new UsageDecodeError("origin is not UTF-8");
  }
  if (!onHeader({ boot, origin })) return;
  const at: Cursor = { pos: 6 + n };
  while (at.pos < msg.length) {
    need(at.pos, SECTION_HEADER_BYTES);
    const id = view.getUint32(at.pos);
    const count = view.getUint16(at.pos + 4);
    at.pos += SECTION_HEADER_BYTES;
    for (let i = 0; i < count; i++) {
      need(at.pos, 8);
      const hash = view.getUint16(at.pos) * 0x100000000 + view.getUint32(at.pos + 2);
      const ageMs = msg[at.pos + 6]! * AGE_UNIT_MS;
      at.pos += 7;
      entry(id, hash, readCount(msg, at), ageMs);
    }
  }
}

function readCount(msg: Uint8Array, at: Cursor): number {
  try {
    return readVarint(msg, at);
  } catch (e) {
    throw e instanceof VarintError ? new UsageDecodeError(`admissions ${e.message}`) : e;
  }
}
