import { describe, expect, test } from "bun:test";
import { MsgpackWriter } from "../../src/cluster/index.ts";
import { decodeNodeMeta, encodeNodeMeta } from "../../src/control/nodemeta.ts";

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
    const b = encodeNodeMeta({ healthy: 3, proxyPort: 8080 });
    expect(b.length).toBeLessThan(16);
    expect(decodeNodeMeta(b)).toEqual({ ok: true, meta: { healthy: 3, proxyPort: 8080 } });
  });

  test("unknown extra fields are skipped (forward compatible)", () => {
    const b = map([["h", (w) => w.uint(2)], ["p", (w) => w.uint(80)], ["v", (w) => w.uint(1)], ["zone", (w) => w.str("eu")]]);
    expect(decodeNodeMeta(b)).toEqual({ ok: true, meta: { healthy: 2, proxyPort: 80 } });
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
      encodeNodeMeta({ healthy: 1, proxyPort: 80 }).subarray(0, 5),
    ];
    for (const c of cases) {
      const r = decodeNodeMeta(c);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
    }
  });
});
