import { describe, expect, test } from "bun:test";
import { MsgpackReader, MsgpackWriter } from "../../src/cluster/index.ts";
import { META_MAX_SIZE } from "../../src/cluster/index.ts";
import { decodeNodeMeta, encodeNodeMeta, poolId } from "../../src/control/nodemeta.ts";

const NONE = new Map<number, number>();

function map(entries: [string, (w: MsgpackWriter) => void][]): Uint8Array {
  const w = new MsgpackWriter();
  w.mapHeader(entries.length);
  for (const [k, v] of entries) {
    w.str(k);
    v(w);
  }
  return w.finish();
}

describe("node metadata", () => {
  test("round-trips and stays tiny", () => {
    const b = encodeNodeMeta({ healthy: 3, proxyPort: 8080, pools: NONE });
    expect(b.length).toBeLessThan(16);
    expect(decodeNodeMeta(b)).toEqual({ ok: true, meta: { healthy: 3, proxyPort: 8080, pools: NONE } });
  });

  test("64 pools with 32-byte names and large counts fit memberlist's 512 bytes", () => {
    const pools = new Map<number, number>();
    for (let i = 0; i < 64; i++) pools.set(poolId(`pool-${String(i).padStart(2, "0")}-${"x".repeat(24)}`), 100_000 - i);
    expect(pools.size).toBe(64);
    const b = encodeNodeMeta({ healthy: 100_000, proxyPort: 65535, pools });
    expect(b.length).toBeLessThanOrEqual(META_MAX_SIZE);
    const r = decodeNodeMeta(b);
    expect(r).toEqual({ ok: true, meta: { healthy: 100_000, proxyPort: 65535, pools } });
  });

  test("a pool table that lies about its length or counts is rejected", () => {
    const meta = (table: Uint8Array) => map([["P", (w) => w.raw(table)], ["h", (w) => w.uint(1)], ["p", (w) => w.uint(80)], ["v", (w) => w.uint(1)]]);
    for (const table of [
      new Uint8Array([1, 2, 3]), // shorter than one entry
      new Uint8Array([0, 0, 0, 1, 0x80]), // varint cut short
      new Uint8Array([0, 0, 0, 1, 0xff, 0xff, 0xff, 0x7f]), // count far beyond any node
      new Uint8Array([0, 0, 0, 1, 1, 0, 0, 0, 1, 2]), // the same pool twice
    ]) {
      const r = decodeNodeMeta(meta(table));
      expect(r.ok).toBe(false);
    }
  });

  test("first-release nodes read our metadata: they skip the pool table and keep the default pool's count", () => {
    const b = encodeNodeMeta({ healthy: 2, proxyPort: 80, pools: new Map([[poolId("api"), 3]]) });
    // The first release's decoder: h, p and v, every other key skipped.
    const r = new MsgpackReader(b);
    const seen: Record<string, number> = {};
    for (let n = r.readMapHeader(); n > 0; n--) {
      const key = r.readStr();
      if (key === "h" || key === "p" || key === "v") seen[key] = r.readInt();
      else r.skip();
    }
    expect(r.remaining).toBe(0);
    expect(seen).toEqual({ h: 2, p: 80, v: 1 });
    const ours = decodeNodeMeta(b);
    expect(ours.ok && ours.meta.pools.get(poolId("api"))).toBe(3);
  });

  test("unknown extra fields are skipped (forward compatible)", () => {
    const b = map([["h", (w) => w.uint(2)], ["p", (w) => w.uint(80)], ["v", (w) => w.uint(1)], ["zone", (w) => w.str("eu")]]);
    expect(decodeNodeMeta(b)).toEqual({ ok: true, meta: { healthy: 2, proxyPort: 80, pools: NONE } });
  });

  test("hostile or foreign metadata is rejected with a reason, never thrown", () => {
    const cases: Uint8Array[] = [
      new Uint8Array(0),
      new TextEncoder().encode("hello from a Go app"),
      map([["h", (w) => w.int(-5)], ["p", (w) => w.uint(80)], ["v", (w) => w.uint(1)]]),
      map([["h", (w) => w.uint(4_000_000_000)], ["p", (w) => w.uint(80)], ["v", (w) => w.uint(1)]]),
      map([["h", (w) => w.str("3")], ["p", (w) => w.uint(80)], ["v", (w) => w.uint(1)]]),
      map([["h", (w) => w.uint(3)], ["p", (w) => w.uint(0)], ["v", (w) => w.uint(1)]]),
      map([["h", (w) => w.uint(3)], ["p", (w) => w.uint(80)], ["v", (w) => w.uint(9)]]),
      map([["h", (w) => w.uint(3)], ["p", (w) => w.uint(80)]]),
      encodeNodeMeta({ healthy: 1, proxyPort: 80, pools: NONE }).subarray(0, 5),
    ];
    for (const c of cases) {
      const r = decodeNodeMeta(c);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
    }
  });
});
