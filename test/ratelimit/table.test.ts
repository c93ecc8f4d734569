import { describe, expect, test } from "bun:test";
import { bucketHash } from "../../src/ratelimit/key.ts";
import { Limit } from "../../src/ratelimit/limit.ts";
import { UsageTable } from "../../src/ratelimit/table.ts";

const limit = () => new Limit({ name: "l", key: { kind: "ip" }, rate: 10, burst: 10, scope: "cluster" }, 0);

describe("usage table", () => {
  test("at most maxKeys buckets; the least recently used goes first and is counted", () => {
    const l = limit();
    const t = new UsageTable(3);
    const a = t.lookup(l, "a", 0);
    t.lookup(l, "b", 0);
    t.lookup(l, "c", 0);
    t.lookup(l, "a", 0); // a is now the most recent; b is the oldest
    t.lookup(l, "d", 0);
    expect(t.size).toBe(3);
    expect(t.evictions).toBe(1);
    expect(l.entries.has("b")).toBe(false);
    expect(t.lookup(l, "a", 0)).toBe(a);
    expect([...t.recent()].map((e) => e.key)).toEqual(["a", "d", "c"]);
  });

  test("a bucket first known by its hash (from gossip) is the one a later request finds", () => {
    const l = limit();
    const t = new UsageTable(10);
    const remote = t.remote(l, bucketHash("l", "198.18.0.1"), 0);
    remote.tokens = -3;
    const e = t.lookup(l, "198.18.0.1", 0);
    expect(e).toBe(remote);
    expect(e.key).toBe("198.18.0.1");
    expect(t.size).toBe(1);
  });

  test("a million distinct keys keep the table at its bound", () => {
    const l = limit();
    const t = new UsageTable(1000);
    for (let i = 0; i < 1_000_000; i++) t.lookup(l, `k${i}`, 0);
    expect(t.size).toBe(1000);
    expect(l.entries.size).toBe(1000);
    expect(t.evictions).toBe(999_000);
  });
});
