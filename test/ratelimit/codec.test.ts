import { describe, expect, test } from "bun:test";
import { decodeUsage, originBytes, UsageDecodeError, UsageWriter } from "../../src/ratelimit/codec.ts";

function decode(msg: Uint8Array) {
  const out: { header?: { boot: number; origin: string }; entries: [number, number, number, number][] } = { entries: [] };
  decodeUsage(
    msg,
    (h) => {
      out.header = h;
      return true;
    },
    (id, hash, cum, age) => out.entries.push([id, hash, cum, age]),
  );
  return out;
}

describe("usage codec", () => {
  test("round trip: origin, boot, sections of (hash, age, count) including counts near 2^53", () => {
    const w = new UsageWriter(1400);
    w.begin(0x01, 0xdeadbeef, originBytes("node-ü"));
    w.section(7);
    w.entry(2 ** 48 - 1, 0, Number.POSITIVE_INFINITY);
    w.entry(12345, 127, 9);
    w.section(0xffffffff);
    w.entry(1, 2 ** 53 - 1, 0);
    const msg = w.finish();
    expect(msg[0]).toBe(0x01);
    expect(decode(msg.subarray(1))).toEqual({
      header: { boot: 0xdeadbeef, origin: "node-ü" },
      entries: [
        [7, 2 ** 48 - 1, 0, 1020],
        [7, 12345, 127, 8],
        [0xffffffff, 1, 2 ** 53 - 1, 0],
      ],
    });
  });

  test("truncated, wrong version, overlong varint: a decode error, never a crash", () => {
    const w = new UsageWriter(100);
    w.begin(null, 1, originBytes("a"));
    w.section(1);
    w.entry(5, 300, 0);
    const ok = w.finish();
    for (let cut = 0; cut < ok.length; cut++) {
      if (cut === 7) continue; // header only: a valid heartbeat
      expect(() => decode(ok.subarray(0, cut))).toThrow(UsageDecodeError);
    }
    const bad = ok.slice();
    bad[0] = 9;
    expect(() => decode(bad)).toThrow(UsageDecodeError);
    const long = new Uint8Array([...ok.subarray(0, 7), 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 5, 0, ...Array(9).fill(0xff)]);
    expect(() => decode(long)).toThrow(UsageDecodeError);
  });

  test("random bytes never throw anything but a decode error", () => {
    for (let i = 0; i < 2000; i++) {
      const b = crypto.getRandomValues(new Uint8Array(1 + (i % 64)));
      if (i % 2 === 0) b[0] = 1;
      try {
        decode(b);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageDecodeError);
      }
    }
  });
});
