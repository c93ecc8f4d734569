import { describe, expect, test } from "bun:test";
import { bucketHash, keyValue, limitId } from "../../src/ratelimit/key.ts";

describe("key", () => {
  const api = { pool: "api", prefix: "/v1", stripPrefix: false, host: "api.example.com" };
  const r = { headers: new Headers({ "x-api-key": "k1" }), clientIp: "198.18.0.9", route: api, pool: "api" };

  test("each key kind reads its part of the request", () => {
    expect(keyValue({ kind: "ip" }, r)).toBe("198.18.0.9");
    expect(keyValue({ kind: "header", name: "x-api-key" }, r)).toBe("k1");
    expect(keyValue({ kind: "route" }, r)).toBe("api.example.com/v1");
    expect(keyValue({ kind: "route" }, { ...r, route: { pool: "web", prefix: "", stripPrefix: false, host: "*" } })).toBe("*/");
    expect(keyValue({ kind: "global" }, r)).toBe("");
  });

  test("without the header a header-keyed limit does not apply; unrouted requests share the route bucket", () => {
    expect(keyValue({ kind: "header", name: "x-other" }, r)).toBeNull();
    expect(keyValue({ kind: "route" }, { ...r, route: null })).toBe("");
  });

  test("hashes are stable 48-bit numbers, distinct per limit and per value", () => {
    const h = bucketHash("per-client", "a");
    expect(h).toBe(bucketHash("per-client", "a"));
    expect(Number.isSafeInteger(h) && h >= 0 && h < 2 ** 48).toBe(true);
    expect(bucketHash("per-client", "b")).not.toBe(h);
    expect(bucketHash("other", "a")).not.toBe(h);
    expect(limitId("per-client")).toBe(limitId("per-client"));
    expect(limitId("per-client")).not.toBe(limitId("other"));
  });
});
