import { describe, expect, test } from "bun:test";
import { quantile, TrafficSampler } from "../../src/admin/traffic.ts";
import { ProxyStats } from "../../src/proxy/stats.ts";

describe("quantile", () => {
  const bounds = [0.01, 0.1, 1];
  test("interpolates inside the bucket the rank falls in", () => {
    // 10 in (0, 10ms], 10 in (10ms, 100ms]: the median is the top of the first bucket.
    const q = quantile(0.5, bounds, [0, 0, 0, 0], [10, 20, 20, 20]);
    expect(q).toEqual({ value: 0.01, overflow: false });
    // p75: halfway through the second bucket.
    expect(quantile(0.75, bounds, [0, 0, 0, 0], [10, 20, 20, 20])!.value).toBeCloseTo(0.055, 6);
  });
  test("uses only the observations between the two readings", () => {
    // Earlier: 100 fast ones. Since then: 4 slow ones in (100ms, 1s].
    expect(quantile(0.5, bounds, [100, 100, 100, 100], [100, 100, 104, 104])!.value).toBeCloseTo(0.55, 6);
  });
  test("no observations: null; beyond the last bound: that bound, flagged", () => {
    expect(quantile(0.5, bounds, [3, 3, 3, 3], [3, 3, 3, 3])).toBeNull();
    expect(quantile(0.99, bounds, [0, 0, 0, 0], [0, 0, 0, 5])).toEqual({ value: 1, overflow: true });
  });
});

describe("TrafficSampler", () => {
  test("rates, error share and latency come from counter differences over the window", () => {
    const stats = new ProxyStats();
    const sampler = new TrafficSampler(stats, { windowS: 10 });
    const a = stats.target("default", "127.0.0.1:1");
    const b = stats.target("default", "node:peer");
    // Traffic before the window must not count.
    for (let i = 0; i < 50; i++) stats.recordResponse(a, 200, 0.0005);
    sampler.sample(0);
    for (let s = 1; s <= 10; s++) {
      // Per second: 8 fast 200s, one 503 from a peer, one local 502 answer.
      for (let i = 0; i < 8; i++) stats.recordResponse(a, 200, 0.004);
      stats.recordResponse(b, 503, 0.2);
      stats.recordLocal(502);
      sampler.sample(s * 1000);
    }
    stats.readInFlight = () => 3;
    const t = sampler.snapshot();
    expect(t.window_s).toBe(10);
    expect(t.rps).toBe(10);
    expect(t.errors_ps).toBe(2);
    expect(t.error_ratio).toBe(0.2);
    expect(t.local_ratio).toBe(0.1);
    // 90 responses in the window (local answers have no upstream latency): 80 in (2.5ms, 5ms], 10 in (100ms, 250ms].
    expect(t.p50_ms).toBeGreaterThan(2.5);
    expect(t.p50_ms).toBeLessThanOrEqual(5);
    expect(t.p99_ms).toBeGreaterThan(100);
    expect(t.p99_ms).toBeLessThanOrEqual(250);
    expect(t.mean_ms).toBeCloseTo((80 * 4 + 10 * 200) / 90, 1);
    expect(t.in_flight).toBe(3);
    expect(t.total_requests).toBe(150);
    expect(t.total_errors).toBe(20);
    expect(t.history.rps).toEqual(Array(10).fill(10));
    expect(t.history.errors_ps).toEqual(Array(10).fill(2));
  });

  test("the window slides: old seconds drop out; history is bounded", () => {
    const stats = new ProxyStats();
    const sampler = new TrafficSampler(stats, { windowS: 5, historyS: 8 });
    const a = stats.target("default", "x");
    sampler.sample(0);
    for (let s = 1; s <= 20; s++) {
      // A burst of 5xx in the first 5 seconds only.
      stats.recordResponse(a, s <= 5 ? 500 : 200, 0.01);
      sampler.sample(s * 1000);
    }
    const t = sampler.snapshot();
    expect(t.window_s).toBe(5);
    expect(t.rps).toBe(1);
    expect(t.error_ratio).toBe(0);
    expect(t.history.rps.length).toBe(8);
  });

  test("no traffic: zeros and nulls, not NaN", () => {
    const sampler = new TrafficSampler(new ProxyStats());
    sampler.sample(0);
    sampler.sample(1000);
    const t = sampler.snapshot();
    expect(t.rps).toBe(0);
    expect(t.error_ratio).toBeNull();
    expect(t.p50_ms).toBeNull();
    expect(t.mean_ms).toBeNull();
    expect(JSON.stringify(t)).not.toContain("NaN");
  });
});
