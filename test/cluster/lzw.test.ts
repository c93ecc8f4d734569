import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { compress, decompress } from "../../src/cluster/lzw.ts";
import { WireError } from "../../src/cluster/messages.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const ascii = (s: string) => new TextEncoder().encode(s);

// Output of Go 1.19 compress/lzw NewWriter(w, LSB, 8) for these inputs.
const GO_GOLDEN: [Uint8Array, string][] = [
  [ascii("TOBEORNOTTOBEORTOBEORNOT"), "00a93c1152e48914274fa80824687061c183090302"],
  [new Uint8Array(0), "000302"],
  [ascii("a"), "00c30404"],
  [new Uint8Array(300), "0001081c48b0a0c18308132a5cc8b0a1c38710234a9c48b1a2c58b180302"],
];

/** The LCG input the Go side used for the large golden (fills the 12-bit table and resets it). */
function lcgInput(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    out[i] = (x >>> 16) & 0x0f;
  }
  return out;
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

describe("lzw", () => {
  test("compress is byte-identical to Go's writer", () => {
    for (const [input, golden] of GO_GOLDEN) {
      expect(hex(compress(input))).toBe(golden);
      expect(hex(decompress(unhex(golden)))).toBe(hex(input));
    }
  });

  test("large input with table resets matches Go (length + sha256)", () => {
    const out = compress(lcgInput(20000));
    expect(out.length).toBe(12632);
    expect(createHash("sha256").update(out).digest("hex")).toBe(
      "23e5efbc7ac9f38b3f3c80d451de48f7d20cf2fb5e8c5c44ea95a4fdeeae7482",
    );
    expect(decompress(out)).toEqual(lcgInput(20000));
  });

  test("round-trips random and repetitive data of many sizes", () => {
    const rnd = seeded(42);
    for (const n of [1, 2, 3, 255, 256, 511, 512, 513, 4096, 10000, 70000]) {
      for (const alphabet of [2, 16, 256]) {
        const input = new Uint8Array(n);
        for (let i = 0; i < n; i++) input[i] = rnd() % alphabet;
        expect(decompress(compress(input))).toEqual(input);
      }
    }
    const runs = new Uint8Array(200000).fill(7);
    expect(decompress(compress(runs))).toEqual(runs);
  });

  test("missing EOF, invalid codes and junk are WireError('lzw')", () => {
    const good = compress(ascii("hello hello hello"));
    for (let cut = 0; cut < good.length - 1; cut++) {
      let err: unknown;
      try {
        decompress(good.subarray(0, cut));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(WireError);
      expect((err as WireError).reason).toBe("lzw");
    }
    // clear, then code 300 while the next free code is 257
    expect(() => decompress(new Uint8Array([0x00, 0x59, 0x02, 0x0c]))).toThrow(WireError);
  });

  test("a missing leading clear code is accepted (as Go's reader does)", () => {
    // 'a' (0x61) then EOF, 9-bit LSB codes: 0x061 | 0x101 << 9
    const v = 0x61 | (0x101 << 9);
    expect(hex(decompress(new Uint8Array([v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff])))).toBe("61");
  });

  test("output cap stops decompression bombs", () => {
    const bomb = compress(new Uint8Array(1_000_000));
    expect(bomb.length).toBeLessThan(5000);
    let err: unknown;
    try {
      decompress(bomb, 64 * 1024);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WireError);
    expect((err as WireError).reason).toBe("too_large");
    expect(decompress(bomb, 1_000_000).length).toBe(1_000_000);
  });

  test("random garbage only ever throws WireError", () => {
    const rnd = seeded(7);
    for (let i = 0; i < 2000; i++) {
      const buf = new Uint8Array(rnd() % 64);
      for (let j = 0; j < buf.length; j++) buf[j] = rnd() & 0xff;
      try {
        decompress(buf, 1 << 16);
      } catch (e) {
        expect(e).toBeInstanceOf(WireError);
      }
    }
  });
});
