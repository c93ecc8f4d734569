// Scenarios the simulator's tests share.
import type { ScenarioConfig } from "../../sim/scenario.ts";

/** 16 nodes with every fault on (loss, latency spread, a crash, a partition, slow nodes), so every random path is taken. */
export function everyFault(seed: number): ScenarioConfig {
  return {
    nodes: 16,
    seed,
    loss: 0.05,
    latencyMs: [1, 20],
    kill: 1,
    partition: { fraction: 0.3, fromMs: 20_000, toMs: 30_000 },
    slow: 0.1,
    durationMs: 60_000,
    lifeguard: true,
    timings: { pushPullIntervalMs: 10_000 },
  };
}
