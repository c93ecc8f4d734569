// Gossip benchmark: Bun engine vs Go memberlist 0.2.2, same timings, same harness, one OS process
// per node for both. Not a test: `bun bench/gossip/run.ts` (run nothing else meanwhile).
//
// For each cluster size and implementation, per round:
//   convergence — the last node joins via the seed: time until every node knows it and it knows all;
//   detection   — SIGKILL one node: time until the first and until every survivor reports it gone.
// Prints medians and the ratios bun/go (below 1 = Bun faster).
//
// Env: SIZES (default "8,32"), ROUNDS (3), ENCRYPT (0/1), PROBE_MS (200), GOSSIP_MS (100).

import { join } from "node:path";
import { buildGoPeer } from "../../test/interop/gonode.ts";
import { median } from "../lib/report.ts";
import { processRound, type ProcessSample } from "./processes.ts";

const SIZES = (process.env.SIZES ?? "8,32").split(",").map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const ENCRYPT = process.env.ENCRYPT === "1";
const PROBE_MS = Number(process.env.PROBE_MS ?? 200);
const GOSSIP_MS = Number(process.env.GOSSIP_MS ?? 100);
const KEY = new Uint8Array(32).map((_, i) => (i * 31 + 7) & 0xff);
const TIMING = {
  probeInterval: `${PROBE_MS}ms`,
  probeTimeout: `${Math.round(PROBE_MS / 2)}ms`,
  gossipInterval: `${GOSSIP_MS}ms`,
  suspicionMult: 4,
  pushPullInterval: "60s", // keep anti-entropy out of the gossip measurement
};

type Impl = "go" | "bun";
type Sample = Pick<ProcessSample, "converge" | "detectFirst" | "detectAll">;

const round = (binary: string, impl: Impl, n: number): Promise<Sample> =>
  processRound({ binary, prefix: impl, n, flags: { key: ENCRYPT ? KEY : undefined, ...TIMING } });

const go = await buildGoPeer();
if (!go.ok) {
  console.error("Go peer unavailable; nothing to compare against.");
  process.exit(1);
}
const binaries: Record<Impl, string> = { go: go.binary, bun: join(import.meta.dir, "peer.ts") };

console.log(`gossip bench: sizes ${SIZES.join(",")}, ${ROUNDS} rounds, probe ${PROBE_MS} ms, gossip ${GOSSIP_MS} ms, suspicion mult 4, ${ENCRYPT ? "encrypted" : "plaintext"}`);
const fmt = (ms: number) => `${ms.toFixed(0).padStart(6)} ms`;
for (const n of SIZES) {
  const samples: Record<Impl, Sample[]> = { go: [], bun: [] };
  for (let r = 0; r < ROUNDS; r++) {
    // alternate the order so neither side always runs on a warmer machine
    for (const impl of (r % 2 === 0 ? ["go", "bun"] : ["bun", "go"]) as Impl[]) {
      let s: Sample;
      try {
        s = await round(binaries[impl], impl, n);
      } catch (err) {
        // e.g. a join that gossip never delivered to some node (anti-entropy is held off on purpose)
        console.log(`  n=${n} round ${r + 1} ${impl.padEnd(3)} FAILED: ${String(err instanceof Error ? err.message : err).split("\n")[0].slice(0, 200)}`);
        continue;
      }
      samples[impl].push(s);
      console.log(`  n=${n} round ${r + 1} ${impl.padEnd(3)} converge ${fmt(s.converge)}  detect first ${fmt(s.detectFirst)}  all ${fmt(s.detectAll)}`);
    }
  }
  const med = (impl: Impl, k: keyof Sample) => median(samples[impl].map((s) => s[k]));
  console.log(`n=${n} medians (go ${samples.go.length}/${ROUNDS} rounds ok, bun ${samples.bun.length}/${ROUNDS}):`);
  for (const k of ["converge", "detectFirst", "detectAll"] as const) {
    const g = med("go", k);
    const b = med("bun", k);
    console.log(`  ${k.padEnd(12)} go ${fmt(g)}  bun ${fmt(b)}  ratio bun/go ${(b / g).toFixed(2)}`);
  }
}
