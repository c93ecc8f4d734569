// The simulator's promise: one seed, one event log, byte for byte (so a failure found at scale replays),
// and a different seed is a different run. Small N, every fault on, so all the random paths are taken.
import { expect, test } from "bun:test";
import { parseArgs } from "../../sim/main.ts";
import { runScenario } from "../../sim/scenario.ts";
import { everyFault } from "./scenarios.ts";

const scenario = everyFault;

async function run(seed: number): Promise<{ hash: string; log: string; detected: number | null }> {
  let log = "";
  const f = await runScenario(scenario(seed), (s) => {
    log += s;
  });
  return { hash: f.event_log_hash, log, detected: f.detect_all_dead_ms };
}

test("same seed → same event log byte for byte; another seed → another log", async () => {
  const a = await run(7);
  const b = await run(7);
  const c = await run(8);
  expect(a.log.length).toBeGreaterThan(1000);
  expect(b.log).toBe(a.log);
  expect(b.hash).toBe(a.hash);
  expect(new Bun.CryptoHasher("sha256").update(a.log).digest("hex")).toBe(a.hash);
  expect(c.hash).not.toBe(a.hash);
  // the run did what it says: the crash was detected by every survivor, the partition healed
  expect(a.detected).not.toBeNull();
  expect(a.log).toMatch(/ leave \d+ dead /);
}, 30_000);

test("bad flags name the flag", () => {
  expect(() => parseArgs(["--nodes", "2", "--seed", "1"])).toThrow("--nodes");
  expect(() => parseArgs(["--nodes", "10"])).toThrow("--seed is required");
  expect(() => parseArgs(["--nodes", "10", "--seed", "1", "--loss", "1.5"])).toThrow("--loss");
  expect(() => parseArgs(["--nodes", "10", "--seed", "1", "--partition", "0.3@90s..60s"])).toThrow("--partition");
  expect(() => parseArgs(["--nodes", "10", "--seed", "1", "--latency", "5"])).toThrow("--latency");
  expect(() => parseArgs(["--nodes", "10", "--seed", "1", "--slow-mode", "gc"])).toThrow("--slow-mode");
  expect(() => parseArgs(["--nodes", "10", "--seed", "1", "--store", "disk"])).toThrow("--store");
  expect(() => parseArgs(["--nodes", "10", "--seed", "1", "--stall", "3s..1s"])).toThrow("--stall");
  const slow = parseArgs(["--nodes", "10", "--seed", "1", "--slow", "0.1", "--slow-mode", "recv", "--stall", "5s..30s", "--stall-gap", "10ms..50ms", "--settled", "--store", "map"]).cfg;
  expect(slow).toMatchObject({ slowMode: "recv", stallMs: [5000, 30_000], stallGapMs: [10, 50], bootstrap: "settled", store: "map" });
  const { cfg } = parseArgs(["--nodes", "10", "--seed", "3", "--partition", "0.3@60s..90s", "--latency", "2ms..8ms", "--no-lifeguard"]);
  expect(cfg.partition).toEqual({ fraction: 0.3, fromMs: 60_000, toMs: 90_000 });
  expect(cfg.latencyMs).toEqual([2, 8]);
  expect(cfg.lifeguard).toBe(false);
});
