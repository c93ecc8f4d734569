import { describe, expect, test } from "bun:test";
import type { RateLimitConfig } from "../../src/config/schema.ts";
import { denialHeaders } from "../../src/ratelimit/headers.ts";
import { RateLimiter } from "../../src/ratelimit/limiter.ts";
import type { Entry } from "../../src/ratelimit/table.ts";

const req = (ip: string, headers: Record<string, string> = {}, pool: string | null = null) => ({ headers: new Headers(headers), clientIp: ip, route: null, pool });
const cfg = (o: Partial<RateLimitConfig> & { name: string }): RateLimitConfig => ({ key: { kind: "ip" }, rate: 10, burst: 2, scope: "cluster", ...o });

describe("rate limiter", () => {
  test("admits the burst, then refuses with the seconds until the next token", () => {
    const l = new RateLimiter([cfg({ name: "per-ip", rate: 1, burst: 2 })], { maxKeys: 100, report: "cluster", chargeLagMs: 0 });
    expect(l.check(req("a"), 0)).toBeNull();
    expect(l.check(req("a"), 0)).toBeNull();
    const d = l.check(req("a"), 0);
    expect(d?.limit.cfg.name).toBe("per-ip");
    expect(d?.retryAfterS).toBe(1);
    expect(l.check(req("b"), 0)).toBeNull(); // another key, another bucket
    expect(l.check(req("a"), 1000)).toBeNull();
    expect(l.limits[0]!.limited).toBe(1);
  });

  test("a request refused by one limit takes no token from the others", () => {
    const l = new RateLimiter([cfg({ name: "global", key: { kind: "global" }, burst: 5 }), cfg({ name: "per-ip", burst: 1 })], { maxKeys: 100, report: "cluster", chargeLagMs: 0 });
    expect(l.check(req("a"), 0)).toBeNull();
    for (let i = 0; i < 3; i++) expect(l.check(req("a"), 0)?.limit.cfg.name).toBe("per-ip");
    // the global bucket lost only the one admitted request
    for (let i = 0; i < 4; i++) expect(l.check(req(`b${i}`), 0)).toBeNull();
    expect(l.check(req("c"), 0)?.limit.cfg.name).toBe("global");
  });

  test("a pool filter applies the limit only to requests routed there", () => {
    const l = new RateLimiter([cfg({ name: "api", pool: "api", burst: 1 })], { maxKeys: 100, report: "cluster", chargeLagMs: 0 });
    expect(l.check(req("a", {}, "api"), 0)).toBeNull();
    expect(l.check(req("a", {}, "api"), 0)).not.toBeNull();
    expect(l.check(req("a", {}, "web"), 0)).toBeNull();
    expect(l.check(req("a"), 0)).toBeNull();
  });

  test("admissions are handed on once per bucket; node-scope ones only when a worker reports all", () => {
    const cfgs = [cfg({ name: "c", burst: 10 }), cfg({ name: "n", scope: "node", burst: 10 })];
    for (const report of ["cluster", "all"] as const) {
      const l = new RateLimiter(cfgs, { maxKeys: 100, report, chargeLagMs: 0 });
      for (let i = 0; i < 3; i++) l.check(req("a"), 0);
      const got: [string, number][] = [];
      l.takeFresh((e: Entry, n) => got.push([e.limit.cfg.name, n]));
      expect(got).toEqual(report === "cluster" ? [["c", 3]] : [["c", 3], ["n", 3]]);
      l.takeFresh(() => {
        throw new Error("nothing new");
      });
    }
  });

  test("charges from elsewhere refuse local requests until the bucket refills", () => {
    const l = new RateLimiter([cfg({ name: "c", rate: 10, burst: 10 })], { maxKeys: 100, report: "cluster", chargeLagMs: 0 });
    expect(l.check(req("a"), 0)).toBeNull();
    const e = l.table.lookup(l.limits[0]!, "a", 0);
    l.charge(e, 9, 0);
    expect(l.check(req("a"), 0)?.retryAfterS).toBe(1);
    expect(l.check(req("a"), 100)).toBeNull();
  });

  test("429 fields: RateLimit-Policy states burst per burst/rate seconds, RateLimit what is left and when", () => {
    const l = new RateLimiter([cfg({ name: 'per "client"', rate: 100, burst: 200 })], { maxKeys: 100, report: "cluster", chargeLagMs: 0 });
    for (let i = 0; i < 200; i++) l.check(req("a"), 0);
    const d = l.check(req("a"), 0)!;
    expect(denialHeaders(d)).toEqual({ "ratelimit-policy": '"per \\"client\\"";q=200;w=2', ratelimit: '"per \\"client\\"";r=0;t=1' });
  });
});
