#!/usr/bin/env bun
// The README's simulator tables: runs `bun run sim -- ... --json` once per row, each in its own process
// (so memory per node is that run's), and prints markdown. Heavy at N ≥ 1000: run it alone
// (`flock /tmp/cpu-heavy.lock bun sim/table.ts`).
//
// Env: SIZES (default "10,100,1000"), FP_SIZES ("100"), SEED (1), DURATION (120s), FP_DURATION (600s).

import { join } from "node:path";
import type { Figures } from "./scenario.ts";

const SIZES = (process.env.SIZES ?? "10,100,1000").split(",").filter(Boolean).map(Number);
const FP_SIZES = (process.env.FP_SIZES ?? "100").split(",").filter(Boolean).map(Number);
const SEED = process.env.SEED ?? "1";
const DURATION = process.env.DURATION ?? "120s";
const FP_DURATION = process.env.FP_DURATION ?? "600s";
const main = join(import.meta.dir, "main.ts");

async function sim(args: string[]): Promise<Figures | string> {
  const p = Bun.spawn(["bun", main, "--seed", SEED, "--json", ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) return `exit ${code}: ${err.trim().split("\n").pop() ?? ""}`;
  return JSON.parse(out) as Figures;
}

const ms = (v: number | null) => (v === null ? "—" : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v} ms`);

console.log(`seed ${SEED}; latency 1–20 ms per link; LAN timings (probe 1 s, gossip 200 ms, push/pull 30 s)\n`);
console.log("| N | join → 99.9% / all know | crash → first suspicion | crash → all mark dead | UDP packets / bytes per node·s | stream bytes per node·s | heap per node | wall per simulated s | event_log_hash |");
console.log("|---|---|---|---|---|---|---|---|---|");
for (const n of SIZES) {
  const f = await sim(["--nodes", String(n), "--duration", DURATION, "--kill", "1"]);
  if (typeof f === "string") {
    console.log(`| ${n} | ${f} |`);
    continue;
  }
  console.log(
    `| ${n} | ${ms(f.join_999_ms)} / ${ms(f.join_all_ms)} | ${ms(f.detect_first_suspect_ms)} | ${ms(f.detect_all_dead_ms)} | ${f.msgs_per_node_s.toFixed(1)} / ${f.bytes_per_node_s.toFixed(0)} B | ${f.stream_bytes_per_node_s.toFixed(0)} B | ${(f.memory_per_node_bytes / 1024).toFixed(0)} KiB | ${(f.wall_per_sim_s * 1000).toFixed(1)} ms (whole run ${f.wall_s.toFixed(0)} s for ${f.sim_s.toFixed(0)} s) | \`${f.event_log_hash.slice(0, 12)}\` |`,
  );
}

console.log(`\nfalse positives (live members marked dead, observer/subject pairs) per node-hour, ${FP_DURATION} after the bootstrap, no crash\n`);
console.log("| N | scenario | Lifeguard on | Lifeguard off | refutations on / off |");
console.log("|---|---|---|---|---|");
for (const n of FP_SIZES) {
  for (const [label, args] of [
    ["1% loss", ["--loss", "0.01"]],
    ["10% loss", ["--loss", "0.1"]],
    ["30% loss", ["--loss", "0.3"]],
    ["1% slow nodes", ["--slow", "0.01"]],
  ] as const) {
    const base = ["--nodes", String(n), "--duration", FP_DURATION, "--kill", "0", ...args];
    const on = await sim(base);
    const off = await sim([...base, "--no-lifeguard"]);
    const cell = (f: Figures | string) => (typeof f === "string" ? f : `${f.false_positives_per_node_hour.toFixed(3)} (${f.false_positives} pairs, ${f.false_positive_members} members)`);
    const ref = (f: Figures | string) => (typeof f === "string" ? "—" : String(f.refutations));
    console.log(`| ${n} | ${label} | ${cell(on)} | ${cell(off)} | ${ref(on)} / ${ref(off)} |`);
  }
}
