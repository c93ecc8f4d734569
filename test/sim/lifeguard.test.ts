// Lifeguard's case, found with the simulator: a slow node's own probes time out while the acks sit in its
// queue, so it suspects healthy peers, and when a refutation waits in the queue behind a due suspicion
// timer it declares them dead. Local health awareness (missing nacks stretch its probes) and dynamic
// suspicion (its lone suspicions start at the longest timeout) must cut both; plain SWIM does not.
// Fixed seeds on the virtual clock: the counts are exact, the bounds leave room for harmless changes.
import { expect, test } from "bun:test";
import { type Figures, runScenario, type ScenarioConfig } from "../../sim/scenario.ts";

const base: ScenarioConfig = {
  nodes: 40,
  seed: 1,
  loss: 0,
  latencyMs: [1, 20],
  kill: 0,
  partition: null,
  slow: 0.05,
  durationMs: 300_000,
  lifeguard: true,
  timings: {},
};

async function both(cfg: ScenarioConfig): Promise<{ on: Figures; off: Figures }> {
  return { on: await runScenario(cfg), off: await runScenario({ ...cfg, lifeguard: false }) };
}

test("receive path blocked 5–30 s at 2 of 40 nodes (seed 1): Lifeguard cuts healthy members declared dead > 10×", async () => {
  const { on, off } = await both({ ...base, slowMode: "recv", stallMs: [5000, 30_000] });
  console.log(`[lifeguard recv] healthy declared dead: on ${on.false_positives_healthy}, off ${off.false_positives_healthy}; slow nodes' failed probes: on ${on.failed_probes_by_slow}, off ${off.failed_probes_by_slow}`);
  // without Lifeguard the slow nodes declare the peers they wrongly suspected dead, hundreds of times
  expect(off.false_positives_healthy).toBeGreaterThan(100);
  expect(off.false_positives_healthy_by_slow).toBeGreaterThan(off.false_positives_healthy / 2);
  expect(on.false_positives_healthy * 10).toBeLessThan(off.false_positives_healthy);
  // awareness: a node missing its nacks probes less
  expect(on.failed_probes_by_slow * 2).toBeLessThan(off.failed_probes_by_slow);
}, 30_000);

test("event loop starved (stalls 1–5 s, awake 10–50 ms) at 2 of 40 nodes (seed 2): fewer wrong suspicions, no healthy member declared dead", async () => {
  const { on, off } = await both({ ...base, seed: 2, stallMs: [1000, 5000], stallGapMs: [10, 50] });
  console.log(`[lifeguard loop] healthy declared dead: on ${on.false_positives_healthy}, off ${off.false_positives_healthy}; slow nodes' failed probes: on ${on.failed_probes_by_slow}, off ${off.failed_probes_by_slow}`);
  expect(off.false_positives_healthy).toBeGreaterThan(0);
  expect(on.false_positives_healthy).toBe(0);
  expect(on.failed_probes_by_slow * 2).toBeLessThan(off.failed_probes_by_slow);
}, 30_000);
