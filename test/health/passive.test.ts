// Passive outlier detection in the checker, on a manual clock with scripted checks (real sockets and a
// real node: test/proxy/passive.test.ts).
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/index.ts";
import type { HealthConfig } from "../../src/config/schema.ts";
import { type HealthChange, HealthChecker } from "../../src/health/checker.ts";
import { FailureWindow } from "../../src/health/passive.ts";
import { configureLogging } from "../../src/log.ts";
import { TimingWheel } from "../../src/timer/wheel.ts";

configureLogging({ level: "error" });

function cluster(n: number, over: Partial<HealthConfig>) {
  let t = 1_000_000;
  const wheel = new TimingWheel({ manual: true, tickMs: 10, now: () => t });
  const sick = new Set<string>();
  let probes = 0;
  const cfg = { ...parseConfig(`[[backends]]\naddress = "b:1"`).health, intervalMs: 60_000, maxFails: 3, failWindowMs: 10_000, ejectionTimeMs: 5_000, ...over };
  const backends = Array.from({ length: n }, (_, i) => ({ address: `b${i}:1`, host: `b${i}`, port: 1, weight: 1 }));
  const hc = new HealthChecker(backends, cfg, {
    wheel,
    now: () => t,
    prober: async (host) => {
      probes++;
      return sick.has(host) ? { ok: false, error: "status 503", status: 503 } : { ok: true, status: 200 };
    },
  });
  const changes: HealthChange[] = [];
  hc.onChange((c) => changes.push({ ...c, backend: { ...c.backend } }));
  return {
    hc,
    sick,
    changes,
    probes: () => probes,
    /** Moves the clock on by `ms` and lets due timers and checks run. */
    async advance(ms: number) {
      t += ms;
      wheel.advance();
      await Bun.sleep(1);
    },
    state: (i: number) => hc.backends()[i]!,
  };
}

describe("passive outlier detection", () => {
  test("max_fails within the window run a check; a failing check ejects, and the backend returns after ejection_time", async () => {
    const c = cluster(3, {});
    await c.hc.start();
    const before = c.probes();
    c.sick.add("b1");
    c.hc.reportFailure("b1:1");
    c.hc.reportFailure("b1:1");
    expect(c.probes()).toBe(before);
    c.hc.reportFailure("b1:1");
    await Bun.sleep(1);
    expect(c.probes()).toBe(before + 1);
    expect(c.state(1).ejectedUntil).not.toBeNull();
    expect(c.state(1).status).toBe("up");
    expect(c.hc.healthyCount).toBe(2);
    expect(c.changes.at(-1)).toMatchObject({ reason: "ejected", healthyCount: 2 });
    // Failures during the ejection run no further checks.
    for (let i = 0; i < 5; i++) c.hc.reportFailure("b1:1");
    await Bun.sleep(1);
    expect(c.probes()).toBe(before + 1);
    await c.advance(4_000);
    expect(c.state(1).ejectedUntil).not.toBeNull();
    await c.advance(1_100);
    expect(c.state(1).ejectedUntil).toBeNull();
    expect(c.changes.at(-1)).toMatchObject({ reason: "returned", healthyCount: 3 });
    expect(c.state(1).ejections).toBe(1);
    c.hc.stop();
  });

  test("failures spread wider than fail_window never add up", async () => {
    const c = cluster(2, {});
    await c.hc.start();
    const before = c.probes();
    c.sick.add("b0");
    for (let i = 0; i < 6; i++) {
      c.hc.reportFailure("b0:1");
      await c.advance(6_000);
    }
    expect(c.probes()).toBe(before);
    expect(c.state(0).ejectedUntil).toBeNull();
    c.hc.stop();
  });

  test("a check that passes overrules the failures (a client can provoke them), and no check runs again for a window", async () => {
    const c = cluster(2, {});
    await c.hc.start();
    const before = c.probes();
    for (let i = 0; i < 3; i++) c.hc.reportFailure("b0:1");
    await Bun.sleep(1);
    expect(c.probes()).toBe(before + 1);
    expect(c.state(0).ejectedUntil).toBeNull();
    for (let i = 0; i < 30; i++) c.hc.reportFailure("b0:1");
    await Bun.sleep(1);
    expect(c.probes()).toBe(before + 1);
    await c.advance(10_001);
    for (let i = 0; i < 3; i++) c.hc.reportFailure("b0:1");
    await Bun.sleep(1);
    expect(c.probes()).toBe(before + 2);
    expect(c.changes.filter((x) => x.reason === "ejected")).toEqual([]);
    c.hc.stop();
  });

  test("max_ejected_percent is a floor on what stays: 50% of 4 ejects 2 of 3 outliers, 50% of 1 ejects none", async () => {
    const c = cluster(4, { maxEjectedPercent: 50 });
    await c.hc.start();
    for (const i of [0, 1, 2]) {
      c.sick.add(`b${i}`);
      for (let k = 0; k < 3; k++) c.hc.reportFailure(`b${i}:1`);
      await Bun.sleep(1);
    }
    expect(c.hc.ejectedCount).toBe(2);
    expect(c.hc.healthyCount).toBe(2);
    c.hc.stop();
    const one = cluster(1, { maxEjectedPercent: 50 });
    await one.hc.start();
    one.sick.add("b0");
    for (let k = 0; k < 3; k++) one.hc.reportFailure("b0:1");
    await Bun.sleep(1);
    expect(one.hc.ejectedCount).toBe(0);
    one.hc.stop();
  });

  test("max_fails = 0 (the default) turns it off", async () => {
    const c = cluster(2, { maxFails: 0 });
    await c.hc.start();
    const before = c.probes();
    c.sick.add("b0");
    for (let i = 0; i < 10; i++) c.hc.reportFailure("b0:1");
    await Bun.sleep(1);
    expect(c.probes()).toBe(before);
    c.hc.stop();
  });

  test("the failure window keeps at most max_fails times", () => {
    const w = new FailureWindow();
    expect(w.record(0, 100, 3, 1000)).toBe(true);
    expect(w.count).toBe(3);
    expect(w.record(2000, 1, 3, 1000)).toBe(false);
    expect(w.count).toBe(1);
  });
});
