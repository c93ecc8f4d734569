#!/usr/bin/env bun
// The README's simulator tables: runs `bun run sim -- ... --json` once per row, each in its own process
// (so memory per node is that run's), and prints markdown. Heavy at N ≥ 1000: run it alone
// (`flock /tmp/cpu-heavy.lock bun sim/table.ts`).
//
// Env: SIZES (default "10,100,1000,10000s"; a trailing "s" starts that size settled, see --settled),
// FP_SIZES ("100"; empty for none), SEED (1), DURATION (120s), FP_DURATION (600s), PROGRESS (set: each run's
// progress lines on stderr).

import { join } from "node:path";
import type { Figures } from "./scenario.ts";

const SIZES = (process.env.SIZES ?? "10,100,1000,10000s").split(",").filter(Boolean);
const FP_SIZES = (process.env.FP_SIZES ?? "100").split(",").filter(Boolean).map(Number);
const SEED = process.env.SEED ?? "1";
const DURATION = process.env.DURATION ?? "120s";
const FP_DURATION = process.env.FP_DURATION ?? "600s";
const main = join(import.meta.dir, "main.ts");

async function sim(args: string[]): Promise<Figures | string> {
  const progress = process.env.PROGRESS ? ["--progress"] : [];
  const p = Bun.spawn(["bun", main, "--seed", SEED, "--json", ...progress, ...args], { stdout: "pipe", stderr: progress.length ? "inherit" : "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) return `exit ${code}: ${err.trim().split("\n").pop() ?? ""}`;
  return JSON.parse(out) as Figures;
}

const ms = (v: number | null) => (v === null ? "—" : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v} ms`);

console.log(`seed ${SEED}; latency 1–20 ms per link; LAN timings (probe 1 s, gossip 200 ms, push/pull 30 s)\n`);
console.log("| N | bootstrap | join → 99.9% / all know | crash → first suspicion | crash → all mark dead | UDP packets / bytes per node·s | stream bytes per node·s | heap per node | peak RSS | wall per simulated s | event_log_hash |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|");
for (const size of SIZES) {
  const settled = size.endsWith("s");
  const n = Number(settled ? size.slice(0, -1) : size);
  const f = await sim(["--nodes", String(n), "--duration", DURATION, "--kill", "1", ...(settled ? ["--settled"] : [])]);
  if (typeof f === "string") {
    console.log(`| ${n} | ${f} |`);
    continue;
  }
  const boot = settled ? "settled" : `joined (${ms(f.bootstrap_ms)})`;
  console.log(
    `| ${n} | ${boot} | ${ms(f.join_999_ms)} / ${ms(f.join_all_ms)} | ${ms(f.detect_first_suspect_ms)} | ${ms(f.detect_all_dead_ms)} | ${f.msgs_per_node_s.toFixed(1)} / ${f.bytes_per_node_s.toFixed(0)} B | ${f.stream_bytes_per_node_s.toFixed(0)} B | ${(f.memory_per_node_bytes / 1024).toFixed(1)} KiB | ${f.rss_peak_mib} MiB | ${(f.wall_per_sim_s * 1000).toFixed(1)} ms (whole run ${f.wall_s.toFixed(0)} s for ${f.sim_s.toFixed(0)} s) | \`${f.event_log_hash.slice(0, 12)}\` |`,
  );
}

console.log(`\nfalse positives per node-hour, ${FP_DURATION} after the bootstrap, no crash: (observer, subject) pairs where a live node marked a live member it could reach dead, Lifeguard on / off\n`);
console.log("| N | scenario | healthy members declared dead (by slow nodes) | slow members declared dead | slow nodes' wrong suspicions (failed probes) | refutations |");
console.log("|---|---|---|---|---|---|");
const SCENARIOS: [string, string[]][] = [
  ["1% loss", ["--loss", "0.01"]],
  ["10% loss", ["--loss", "0.1"]],
  ["30% loss", ["--loss", "0.3"]],
  ["1% slow: loop stalls 0.5–2.5 s, 2–8 s apart", ["--slow", "0.01"]],
  ["1% slow: loop starved (stalls 1–5 s, awake 10–50 ms)", ["--slow", "0.01", "--stall", "1s..5s", "--stall-gap", "10ms..50ms"]],
  ["10% slow: loop starved (stalls 1–5 s, awake 10–50 ms)", ["--slow", "0.1", "--stall", "1s..5s", "--stall-gap", "10ms..50ms"]],
  ["1% slow: receive blocked 5–30 s, 2–8 s apart", ["--slow", "0.01", "--slow-mode", "recv", "--stall", "5s..30s"]],
  ["10% slow: receive blocked 5–30 s, 2–8 s apart", ["--slow", "0.1", "--slow-mode", "recv", "--stall", "5s..30s"]],
];
for (const n of FP_SIZES) {
  for (const [label, args] of SCENARIOS) {
    const base = ["--nodes", String(n), "--duration", FP_DURATION, "--kill", "0", ...args];
    const on = await sim(base);
    const off = await sim([...base, "--no-lifeguard"]);
    if (typeof on === "string" || typeof off === "string") {
      console.log(`| ${n} | ${label} | ${typeof on === "string" ? on : ""} ${typeof off === "string" ? off : ""} |`);
      continue;
    }
    const rate = (f: Figures, pairs: number) => (pairs === 0 ? "0" : (pairs / f.node_hours).toFixed(2));
    const healthy = (f: Figures) => `${rate(f, f.false_positives_healthy)} (${f.false_positives_healthy_by_slow})`;
    const ratio = (a: number, b: number) => (a === 0 ? (b === 0 ? "" : ` → ${b}:0`) : ` → ${(b / a).toFixed(1)}×`);
    console.log(
      `| ${n} | ${label} | ${healthy(on)} / ${healthy(off)}${ratio(on.false_positives_healthy, off.false_positives_healthy)} | ${rate(on, on.false_positives_slow)} / ${rate(off, off.false_positives_slow)} | ${on.failed_probes_by_slow} / ${off.failed_probes_by_slow} | ${on.refutations} / ${off.refutations} |`,
    );
  }
}
