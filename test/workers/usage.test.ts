import { describe, expect, test } from "bun:test";
import type { RateLimitConfig } from "../../src/config/schema.ts";
import { bucketHash } from "../../src/ratelimit/key.ts";
import { RateLimiter } from "../../src/ratelimit/limiter.ts";
import { eachTriplet, UsageRelay } from "../../src/workers/usage.ts";

const LIMITS: RateLimitConfig[] = [
  { name: "c", key: { kind: "ip" }, rate: 10, burst: 10, scope: "cluster" },
  { name: "n", key: { kind: "ip" }, rate: 10, burst: 10, scope: "node" },
];

describe("usage relay (primary ⇄ workers)", () => {
  test("a worker's admissions go to its siblings, and cluster-scope ones to the node's gossip", () => {
    const relay = new UsageRelay(LIMITS, 100, 3);
    const h = bucketHash("c", "a");
    const hn = bucketHash("n", "a");
    relay.fromWorker(1, [0, h, 4, 1, hn, 2], [3, 0]);
    relay.fromWorker(2, [], [1, 2]);
    expect(relay.limits.map((l) => l.limited)).toEqual([4, 2]);
    expect(relay.take(0)).toEqual([0, h, 4, 1, hn, 2]);
    expect(relay.take(1)).toEqual([]);
    expect(relay.take(2)).toEqual([0, h, 4, 1, hn, 2]);
    relay.take(0);
    expect(relay.take(0)).toEqual([]);
    const gossiped: [string, number][] = [];
    relay.takeFresh((e, n) => gossiped.push([e.limit.cfg.name, n]));
    expect(gossiped).toEqual([["c", 4]]);
  });

  test("another node's admissions are charged in every worker", () => {
    const relay = new UsageRelay(LIMITS, 100, 2);
    const e = relay.table.remote(relay.limits[0]!, 42, 0);
    relay.charge(e, 3);
    expect(relay.take(0)).toEqual([0, 42, 3]);
    expect(relay.take(1)).toEqual([0, 42, 3]);
  });

  test("a worker applies triplets to its buckets; malformed ones are skipped", () => {
    const l = new RateLimiter(LIMITS, { maxKeys: 100, report: "all", chargeLagMs: 0 });
    const got: number[] = [];
    eachTriplet(l, [0, bucketHash("c", "a"), 2, 7, 1, 1, 0, 1.5, 1, 0, 5, -1, 0, 5], 0, (_e, n) => got.push(n));
    expect(got).toEqual([2]);
    eachTriplet(l, [0, bucketHash("c", "a"), 10], 0, (e, n) => l.charge(e, n, 0));
    expect(l.check({ headers: new Headers(), clientIp: "a", route: null, pool: null }, 0)?.limit.cfg.name).toBe("c");
  });
});
