// The in-process gossip bench's harness (bench/gossip/engines.ts): real engines on real loopback sockets
// in this process converge, a stopped engine is suspected and then marked dead by every survivor, and
// nobody live is counted as a false positive.
import { afterEach, expect, test } from "bun:test";
import { EngineCluster, lagProbe } from "../../bench/gossip/engines.ts";
import { configureLogging } from "../../src/log.ts";

// Push/pull stays on, as in production: gossip alone reaches every member only with high probability
// (each fact goes out retransmitMult × log10(n+1) = 4 times per node at 8 nodes), and on a loaded CI
// machine, about one run in ten without it left an engine that never heard of the last joiners.
const FAST = { probeIntervalMs: 200, probeTimeoutMs: 100, gossipIntervalMs: 50, suspicionMult: 2, pushPullIntervalMs: 1000 };
let cluster: EngineCluster | null = null;
afterEach(async () => {
  await cluster?.shutdown();
  cluster = null;
});

test("8 encrypted engines on loopback converge, a crash is suspected and marked dead by all 7 survivors", async () => {
  configureLogging({ level: "error" });
  const c = (cluster = new EngineCluster({ timings: FAST, key: new Uint8Array(32).fill(7) }));
  await c.add();
  for (let i = 1; i < 8; i++) await c.join(await c.add(), 0);
  await c.until(() => c.converged(), 10_000, "convergence");
  for (let i = 0; i < 8; i++) expect(c.knownBy(i)).toBe(8);
  expect(c.traffic().packets).toBeGreaterThan(0);

  c.countFalseFrom();
  const lag = lagProbe();
  await c.crash(3);
  expect(c.knownBy(3)).toBe(7); // the survivors still think it alive
  await c.until(() => c.deadCount(3) === 7, 15_000, "all survivors mark it dead");
  expect(c.suspectedAt(3)).toBeNumber();
  expect(c.knownBy(3)).toBe(0);
  expect(c.converged()).toBe(true);
  expect(c.falsePositives).toBe(0);
  expect(lag.stop().samples).toBeGreaterThan(0);
}, 30_000);
