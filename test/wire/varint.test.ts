import { describe, expect, test } from "bun:test";
import { type Cursor, readVarint, VARINT_MAX_BYTES, VarintError, varintLength, writeVarint } from "../../src/wire/varint.ts";

const enc = (v: number): number[] => {
  const b = new Uint8Array(VARINT_MAX_BYTES);
  return [...b.subarray(0, writeVarint(b, 0, v))];
};
const dec = (bytes: number[], max?: number): { v: number; pos: number } => {
  const at: Cursor = { pos: 0 };
  const v = readVarint(new Uint8Array(bytes), at, max);
  return { v, pos: at.pos };
};
const fault = (bytes: number[], max?: number): string => {
  try {
    dec(bytes, max);
  } catch (e) {
    if (e instanceof VarintError) return e.fault;
    throw e;
  }
  return "none";
};

describe("LEB128 varint", () => {
  test("known encodings, low group first, up to 2^53 − 1 in 8 bytes", () => {
    expect(enc(0)).toEqual([0x00]);
    expect(enc(127)).toEqual([0x7f]);
    expect(enc(128)).toEqual([0x80, 0x01]);
    expect(enc(300)).toEqual([0xac, 0x02]);
    expect(enc(100_000)).toEqual([0xa0, 0x8d, 0x06]);
    expect(enc(2 ** 32)).toEqual([0x80, 0x80, 0x80, 0x80, 0x10]);
    expect(enc(2 ** 53 - 1)).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    for (const v of [0, 127, 128, 2 ** 32, 2 ** 53 - 1]) expect(varintLength(v)).toBe(enc(v).length);
  });

  test("round trip at every group boundary and for random values; the cursor lands after the varint", () => {
    const values = [0, 1, 2 ** 53 - 1];
    for (let k = 1; k < 8; k++) values.push(2 ** (7 * k) - 1, 2 ** (7 * k));
    for (let i = 0; i < 1000; i++) values.push(Math.floor(Math.random() * 2 ** Math.floor(Math.random() * 54)));
    for (const v of values) {
      const b = enc(v);
      expect(dec([...b, 0x55])).toEqual({ v, pos: b.length });
    }
  });

  test("hostile input: truncated, overlong (too many bytes or a needless zero group), past 2^53 − 1", () => {
    expect(fault([])).toBe("truncated");
    expect(fault([0x80])).toBe("truncated");
    expect(fault([0xff, 0xff, 0xff])).toBe("truncated");
    expect(fault(Array(9).fill(0xff))).toBe("overlong");
    expect(fault([0x80, 0x80, 0x80, 0x01], 3)).toBe("overlong");
    expect(fault([0xff, 0xff, 0x7f], 3)).toBe("none");
    expect(fault([0x80, 0x00])).toBe("overlong");
    expect(fault([0xff, 0x80, 0x00])).toBe("overlong");
    expect(fault([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10])).toBe("too large"); // 2^53
    expect(fault([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])).toBe("too large"); // 2^56 − 1
    for (let i = 0; i < 2000; i++) {
      const b = [...crypto.getRandomValues(new Uint8Array(i % 12))];
      const f = fault(b);
      if (f === "none") expect(dec(b).v).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER);
    }
  });

  test("the encoder refuses what it cannot write exactly", () => {
    for (const v of [-1, 0.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => enc(v)).toThrow(RangeError);
  });
});
