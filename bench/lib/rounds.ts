// Interleaved wrk rounds against several targets: each round runs every (path, conns) load on every
// target, in an order rotated each round so no target always runs first (or last, on a warmer machine).
// Prints medians per target and load, with ratios to base targets taken from the same round.

import { cpuMicros } from "./procs.ts";
import { fmtLatency, fmtRate, fmtRatio, median, printTable } from "./report.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

export interface WrkTarget {
  name: string;
  /** Base URL; the path is appended. */
  url: string;
  /** Processes whose CPU time counts for this target (resolved before each run). */
  pids: () => number[];
}

/** A ratio column: this target's metric over `base`'s from the same round (blank on the base's own row). */
export interface RatioColumn {
  header: string;
  base: string;
  metric: "rps" | "p99Us";
}

export interface RoundsOptions {
  targets: WrkTarget[];
  paths: string[];
  conns: number[];
  rounds: number;
  durationS: number;
  ratios: RatioColumn[];
  /** Headers of the first column and the CPU column. */
  targetHeader: string;
  cpuHeader: string;
}

interface Row {
  rps: number[];
  p50: number[];
  p99: number[];
  cpu: number[];
  errors: number;
  ratios: number[][];
}

/** Warms every target up (1 s per path), runs the rounds and returns the table. */
export async function interleavedRounds(o: RoundsOptions): Promise<string> {
  for (const t of o.targets) for (const p of o.paths) await runWrk(t.url + p, 16, 1, `${t.name} warmup`);
  const rows = new Map<string, Row>();
  const row = (k: string): Row => {
    let r = rows.get(k);
    if (!r) rows.set(k, (r = { rps: [], p50: [], p99: [], cpu: [], errors: 0, ratios: o.ratios.map(() => []) }));
    return r;
  };
  for (let round = 0; round < o.rounds; round++) {
    for (const p of o.paths) {
      for (const c of o.conns) {
        const results = new Map<string, WrkResult>();
        const order = o.targets.map((_, i) => o.targets[(i + round) % o.targets.length]!);
        for (const t of order) {
          const pids = t.pids();
          const cpu0 = cpuMicros(pids);
          const w = await runWrk(t.url + p, c, o.durationS, t.name);
          const r = row(`${t.name}|${p} c${c}`);
          r.rps.push(w.rps);
          r.p50.push(w.p50Us);
          r.p99.push(w.p99Us);
          r.cpu.push((cpuMicros(pids) - cpu0) / Math.max(1, w.requests));
          r.errors += w.non2xx + w.socketErrors;
          results.set(t.name, w);
        }
        for (const t of o.targets) {
          const r = row(`${t.name}|${p} c${c}`);
          o.ratios.forEach((col, i) => {
            if (t.name !== col.base) r.ratios[i]!.push(results.get(t.name)![col.metric] / results.get(col.base)![col.metric]);
          });
        }
      }
    }
  }
  const table = [[o.targetHeader, "load", "rps", "p50", "p99", o.cpuHeader, "errors", ...o.ratios.map((c) => c.header)]];
  for (const [k, r] of rows) {
    const [name, load] = k.split("|");
    table.push([
      name!,
      load!,
      fmtRate(median(r.rps)),
      fmtLatency(median(r.p50)),
      fmtLatency(median(r.p99)),
      median(r.cpu).toFixed(1),
      String(r.errors),
      ...r.ratios.map((xs) => (xs.length ? fmtRatio(median(xs)) : "")),
    ]);
  }
  return printTable(table);
}
