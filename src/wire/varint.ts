// Unsigned LEB128 varints for ClusterClub's own bytes inside gossip (the pool table in node metadata,
// rate-limit usage counts): 7 bits per byte, low group first, the high bit set while more follow.
// Values are JS numbers, so at most 2^53 − 1 (8 bytes). The decoder refuses what our encoder never
// writes — more bytes than allowed, a redundant zero group, a value past 2^53 − 1 — instead of guessing.

/** Bytes a value up to 2^53 − 1 can take (8 × 7 = 56 bits). */
export const VARINT_MAX_BYTES = 8;

export type VarintFault = "truncated" | "overlong" | "too large";

export class VarintError extends Error {
  constructor(readonly fault: VarintFault) {
    super(`varint ${fault}`);
    this.name = "VarintError";
  }
}

/** A read position in a buffer; readVarint moves it past what it read. */
export interface Cursor {
  pos: number;
}

/** Bytes `v` takes on the wire. */
export function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** Writes `v`, an integer in [0, 2^53), at `pos` (the caller made room); returns the position after it. */
export function writeVarint(buf: Uint8Array, pos: number, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`varint: ${v} is not an integer in [0, 2^53)`);
  // division, not >>>: counts go past 2^32
  while (v >= 0x80) {
    buf[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[pos++] = v;
  return pos;
}

/**
 * Reads one varint of at most `maxBytes` bytes at `at.pos` and moves `at` past it. Throws VarintError:
 * "truncated" (the buffer ends inside it), "overlong" (over `maxBytes`, or a needless zero last group),
 * "too large" (past 2^53 − 1).
 */
export function readVarint(buf: Uint8Array, at: Cursor, maxBytes = VARINT_MAX_BYTES): number {
  let v = 0;
  let mul = 1;
  for (let k = 0; k < maxBytes; k++) {
    if (at.pos >= buf.length) throw new VarintError("truncated");
    const b = buf[at.pos++]!;
    v += (b & 0x7f) * mul;
    if (b < 0x80) {
      if (b === 0 && k > 0) throw new VarintError("overlong");
      if (v > Number.MAX_SAFE_INTEGER) throw new VarintError("too large");
      return v;
    }
    mul *= 0x80;
  }
  throw new VarintError("overlong");
}
