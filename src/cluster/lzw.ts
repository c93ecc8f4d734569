// LZW as Go's compress/lzw speaks it with LSB bit order and literal width 8 (GIF style):
// codes grow from 9 to 12 bits, 256 = clear, 257 = end of stream. The encoder follows the same
// code-width and table-reset schedule as Go's writer (clear when the next code would be 4095), so
// its output is byte-identical to Go's; the decoder accepts anything Go's reader accepts.

import { WireError } from "./messages.ts";

const CLEAR = 256;
const EOF = 257;
const MAX_WIDTH = 12;
const TABLE_CODES = 1 << MAX_WIDTH; // 4096
const LAST_CODE = TABLE_CODES - 1; // the encoder resets before handing this one out

/** Default output cap for decompress(): far above any memberlist payload, far below a bomb. */
export const DEFAULT_MAX_DECOMPRESSED = 32 * 1024 * 1024;

// Encoder dictionary: open-addressing hash from (prefix code << 8 | byte) to code.
// 16384 slots for at most 3838 live entries keeps probes short; reset is a 64 KiB fill.
const HASH_BITS = 14;
const HASH_SIZE = 1 << HASH_BITS;
const HASH_MASK = HASH_SIZE - 1;
const hashKeys = new Int32Array(HASH_SIZE).fill(-1);
const hashCodes = new Uint16Array(HASH_SIZE);

function hashSlot(key: number): number {
  return Math.imul(key, 0x9e3779b1) >>> (32 - HASH_BITS);
}

/** Compresses `input` into a Go-compatible LZW stream (starts with clear, ends with EOF). */
export function compress(input: Uint8Array): Uint8Array {
  const n = input.length;
  // Worst case: one 12-bit code per byte, plus a clear code per ~3800 codes, plus clear/last/EOF.
  const out = new Uint8Array(Math.ceil(n * 1.5) + Math.ceil(n / 1024) + 16);
  let o = 0;
  let bits = 0; // pending output bits, LSB first
  let nBits = 0;
  let width = 9;
  let hi = EOF; // the code the next table entry will get, minus one
  let overflow = 1 << width;

  const emit = (code: number): void => {
    bits |= code << nBits;
    nBits += width;
    while (nBits >= 8) {
      out[o++] = bits & 0xff;
      bits >>>= 8;
      nBits -= 8;
    }
  };
  // Advances `hi` after a code was emitted; returns true when the table was reset.
  const bump = (): boolean => {
    hi++;
    if (hi === overflow) {
      width++;
      overflow <<= 1;
    }
    if (hi === LAST_CODE) {
      emit(CLEAR);
      width = 9;
      hi = EOF;
      overflow = 1 << width;
      hashKeys.fill(-1);
      return true;
    }
    return false;
  };

  hashKeys.fill(-1);
  emit(CLEAR);
  if (n > 0) {
    let code = input[0];
    outer: for (let i = 1; i < n; i++) {
      const b = input[i];
      const key = (code << 8) | b;
      let slot = hashSlot(key);
      for (let k = hashKeys[slot]; k !== -1; k = hashKeys[slot]) {
        if (k === key) {
          code = hashCodes[slot];
          continue outer;
        }
        slot = (slot + 1) & HASH_MASK;
      }
      emit(code);
      code = b;
      if (bump()) continue;
      hashKeys[slot] = key;
      hashCodes[slot] = hi;
    }
    emit(code);
    bump();
  }
  emit(EOF);
  if (nBits > 0) out[o++] = bits & 0xff;
  return out.subarray(0, o);
}

function lzwError(msg: string): WireError {
  return new WireError("lzw", `lzw: ${msg}`);
}

/**
 * Decompresses a Go LZW stream. The stream must end with the EOF code (as Go requires); bytes after
 * it are ignored. Output beyond `maxOutput` bytes throws WireError("too_large") — a decompression bomb
 * can expand ~2700× — and any malformed stream throws WireError("lzw").
 */
export function decompress(input: Uint8Array, maxOutput = DEFAULT_MAX_DECOMPRESSED): Uint8Array {
  const prefix = new Uint16Array(TABLE_CODES);
  const suffix = new Uint8Array(TABLE_CODES);
  const first = new Uint8Array(TABLE_CODES); // first byte of each code's string
  const lens = new Uint16Array(TABLE_CODES); // 0 = undefined code
  for (let i = 0; i < CLEAR; i++) {
    suffix[i] = i;
    first[i] = i;
    lens[i] = 1;
  }

  let out = new Uint8Array(Math.min(maxOutput, Math.max(256, input.length * 4)));
  let o = 0;
  let ip = 0;
  let bits = 0;
  let nBits = 0;
  let width = 9;
  let hi = EOF;
  let overflow = 1 << width;
  let last = -1;

  const reserve = (len: number): void => {
    if (o + len <= out.length) return;
    if (o + len > maxOutput) {
      throw new WireError("too_large", `lzw: output exceeds ${maxOutput} bytes`);
    }
    let size = out.length * 2;
    while (size < o + len) size *= 2;
    const next = new Uint8Array(Math.min(size, maxOutput));
    next.set(out.subarray(0, o));
    out = next;
  };

  for (;;) {
    while (nBits < width) {
      if (ip >= input.length) throw lzwError("stream ended without EOF code");
      bits |= input[ip++] << nBits;
      nBits += 8;
    }
    const code = bits & ((1 << width) - 1);
    bits >>>= width;
    nBits -= width;

    if (code === CLEAR) {
      width = 9;
      hi = EOF;
      overflow = 1 << width;
      last = -1;
      continue;
    }
    if (code === EOF) break;
    if (code > hi) throw lzwError(`invalid code ${code} (next is ${hi})`);

    if (code === hi && last >= 0) {
      // The code being defined right now (KwKwK): previous string plus its own first byte.
      prefix[hi] = last;
      suffix[hi] = first[last];
      first[hi] = first[last];
      lens[hi] = lens[last] + 1;
    } else if (lens[code] === 0) {
      throw lzwError(`undefined code ${code}`);
    }

    // Write the string for `code` back to front by walking the prefix chain.
    const len = lens[code];
    reserve(len);
    let c = code;
    for (let p = o + len - 1; p > o; p--) {
      out[p] = suffix[c];
      c = prefix[c];
    }
    out[o] = c;
    o += len;

    if (last >= 0 && code !== hi) {
      prefix[hi] = last;
      suffix[hi] = first[code];
      first[hi] = first[last];
      lens[hi] = lens[last] + 1;
    }
    last = code;
    hi++;
    if (hi >= overflow) {
      if (width === MAX_WIDTH) {
        // Table full: no new entries until the next clear code.
        last = -1;
        hi--;
      } else {
        width++;
        overflow <<= 1;
      }
    }
  }
  return out.slice(0, o);
}
