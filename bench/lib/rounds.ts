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

/** What each round sends: every path at every connection count, for durationS each. */
export interface Load {
  rounds: number;
  durationS: number;
  conns: number[];
  paths: string[];
}

/** ROUNDS, DURATION (s), CONNS and PATHS from the environment, as the wrk benches read them. */
export function loadFromEnv(defaults: { rounds: number; paths: string }): Load {
  return {
    rounds: Number(process.env.ROUNDS ?? defaults.rounds),
    durationS: Number.parseInt(process.env.DURATION ?? "5", 10),
    conns: (process.env.CONNS ?? "64").split(",").map(Number),
    paths: (process.env.PATHS ?? defaults.paths).split(","),
  };
}

export interface RoundsOptions {
  /** What is measured, for the heading. */
  title: string;
  targets: WrkTarget[];
  load: Load;
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

/** Warms every target up (1 s per path), runs the rounds and returns a heading and the table. */
export async function interleavedRounds(o: RoundsOptions): Promise<string> {
  const { rounds, durationS, conns, paths } = o.load;
  for (const t of o.targets) for (const p of paths) await runWrk(t.url + p, 16, 1, `${t.name} warmup`);
  const rows = new Map<string, Row>();
  const row = (k: string): Row => {
    let r = rows.get(k);
    if (!r) rows.set(k, (r = { rps: [], p50: [], p99: [], cpu: [], errors: 0, ratios: o.ratios.map(() => []) }));
    return r;
  };
  for (let round = 0; round < rounds; round++) {
    for (const p of paths) {
      for (const c of conns) {
        const results = new Map<string, WrkResult>();
        const order = o.targets.map((_, i) => o.targets[(i + round) % o.targets.length]!);
        for (const t of order) {
          const pids = t.pids();
          const cpu0 = cpuMicros(pids);
          const w = await runWrk(t.url + p, c, durationS, t.name);
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
  return `\n${o.title} — ${rounds} rounds × ${durationS}s, wrk -t1, medians; ratios from the same round\n\n${printTable(table)}`;
}
