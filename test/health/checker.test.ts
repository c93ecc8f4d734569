import { describe, expect, test } from "bun:test";
import { HealthChecker, type HealthChange } from "../../src/health/checker.ts";
import { tcpProbe } from "../../src/health/probe.ts";
import { TimingWheel } from "../../src/timer/wheel.ts";
import { deadPort } from "../helpers/node.ts";
import { UNRESOLVABLE_HOST } from "../helpers/dns.ts";
import { parseConfig } from "../../src/config/index.ts";
import type { HealthConfig } from "../../src/config/schema.ts";

/** The defaults with `over` on top. */
function healthConfig(over: Partial<HealthConfig>): HealthConfig {
  return { ...parseConfig(`[[backends]]\naddress = "b:1"`).health, ...over };
}

const backends = [{ address: "b:1", host: "b", port: 1, weight: 1 }];

/** A checker driven by a manual clock and a scripted prober (the probe itself is tested on real sockets below). */
function scripted(results: boolean[], rise: number, fall: number) {
  let t = 0;
  const wheel = new TimingWheel({ manual: true, tickMs: 10, now: () => t });
  const changes: HealthChange[] = [];
  let i = 0;
  const hc = new HealthChecker(backends, healthConfig({ intervalMs: 1000, timeoutMs: 100, rise, fall }), {
    wheel,
    prober: async () => ({ ok: results[Math.min(i++, results.length - 1)]!, error: "refused" }),
  });
  hc.onChange((c) => changes.push({ ...c, backend: { ...c.backend } }));
  const step = async () => {
    t += 1200;
    wheel.advance();
    await Bun.sleep(1);
  };
  return { hc, changes, step, checks: () => i };
}

describe("health checker", () => {
  test("a backend starts unknown and is up only after its first check passes", async () => {
    const s = scripted([true], 2, 3);
    expect(s.hc.backends()[0]!.status).toBe("unknown");
    await s.hc.start();
    expect(s.hc.backends()[0]!.status).toBe("up");
    expect(s.changes.map((c) => [c.from, c.to, c.healthyCount])).toEqual([["unknown", "up", 1]]);
    s.hc.stop();
  });

  test("fall failures to go down, rise passes to come back", async () => {
    const s = scripted([true, false, false, true, false, false, false, true, true], 2, 3);
    await s.hc.start();
    const statuses: string[] = [];
    for (let k = 0; k < 8; k++) {
      await s.step();
      statuses.push(s.hc.backends()[0]!.status);
    }
    // checks 2..9: F F (still up) T (resets) F F F (down at 3rd) T (1 of 2) T (up)
    expect(statuses).toEqual(["up", "up", "up", "up", "up", "down", "down", "up"]);
    expect(s.changes.map((c) => c.to)).toEqual(["up", "down", "up"]);
    s.hc.stop();
  });

  test("a passive connect failure marks an up backend down at once", async () => {
    const s = scripted([true], 2, 3);
    await s.hc.start();
    s.hc.reportConnectFailure("b:1", "ECONNREFUSED");
    expect(s.hc.backends()[0]!.status).toBe("down");
    expect(s.changes.at(-1)).toMatchObject({ to: "down", reason: "passive", healthyCount: 0 });
    s.hc.stop();
  });

  test("checks repeat on the wheel at the interval", async () => {
    const s = scripted([true], 1, 1);
    await s.hc.start();
    for (let k = 0; k < 3; k++) await s.step();
    expect(s.checks()).toBe(4);
    s.hc.stop();
  });
});

describe("tcp probe", () => {
  test("passes against a listening port, fails against a closed one", async () => {
    const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      expect((await tcpProbe("127.0.0.1", l.port, 500)).ok).toBe(true);
    } finally {
      l.stop(true);
    }
    const r = await tcpProbe("127.0.0.1", deadPort(), 500);
    expect(r.ok).toBe(false);
    expect(r.error).toBeTruthy();
  });

  test("a name that does not resolve fails the check", async () => {
    expect((await tcpProbe(UNRESOLVABLE_HOST, 80, 1000)).ok).toBe(false);
  });
});
