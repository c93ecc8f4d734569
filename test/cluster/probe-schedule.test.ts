// Go's memberlist probes on a fixed ticker: local health awareness stretches a *failed* probe (its ack
// deadline), not the rate of probing. Ours once scaled the period too, so after a failed probe of a
// crashed node (whose indirect nacks arrive just after the deadline) a node probed up to 4× less often
// and detection trailed Go's. Run on the simulator's virtual clock, so the count is exact for the seed.
import { expect, test } from "bun:test";
import { World } from "../../sim/world.ts";

const TIMINGS = { probeIntervalMs: 200, probeTimeoutMs: 100, gossipIntervalMs: 100, pushPullIntervalMs: 60_000 };

test("a node keeps probing once per interval after failed probes of a crashed node (seed 5)", async () => {
  const world = new World(5, { loss: 0, latencyMs: [1, 2] }, { memberEvent: () => {} });
  for (let i = 0; i < 6; i++) world.at(i * 10, () => void world.addNode(i === 0 ? [] : [0], TIMINGS));
  await world.run(5000);
  const live = world.nodes.slice(0, 5);
  const probes = () => live.reduce((s, n) => s + (n.ml?.metrics().probes ?? 0), 0);
  await world.kill(world.nodes[5]);
  const before = probes();
  await world.run(world.now + 4000);
  const raised = live.some((n) => (n.ml?.metrics().probeFailures ?? 0) > 0);
  const done = probes() - before;
  for (const n of live) await n.ml?.shutdown();
  // 5 nodes × 20 intervals, less the few probes of the crashed node that ran to the stretched deadline
  expect(done).toBeGreaterThanOrEqual(90);
  expect(raised).toBe(true);
  console.log(`[probe-schedule] ${done} probes in 20 intervals × 5 nodes`);
});
