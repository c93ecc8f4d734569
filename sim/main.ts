#!/usr/bin/env bun
// `bun run sim -- --nodes 1000 --seed 7 [...]`: a deterministic simulation of the real gossip engine
// (src/cluster) on a virtual clock and a simulated network. See sim/README section in README.md.

import { runScenario, type Figures, type ScenarioConfig } from "./scenario.ts";

const USAGE = `usage: bun run sim -- --nodes N --seed S [options]
  --nodes N              cluster size (≥ 3)
  --seed S               PRNG seed (integer); the same seed replays the same event log
  --loss p               packet loss probability, 0 ≤ p < 1 (default 0)
  --latency A..B         one-way latency range per link (default 1ms..20ms)
  --kill k               members to crash once the newcomer is known everywhere (default 1)
  --partition f@A..B     cut off a share f of the nodes from scenario time A to B (e.g. 0.3@60s..90s)
  --slow f               share of nodes that stall now and then (default 0)
  --slow-mode loop|recv  loop (default): the whole event loop stops, and on waking runs its overdue
                         timers before the packets that queued up; recv: only receiving stops
  --stall A..B           length of each stall (default 500ms..2500ms)
  --stall-gap A..B       time between the end of one stall and the next (default 2s..8s)
  --duration T           scenario time after the bootstrap (default 300s)
  --no-lifeguard         plain SWIM: no awareness, fixed suspicion timeout
  --settled              start the first N−1 nodes with full tables instead of joining them one by one
                         (for 10,000 nodes); the new member still joins for real
  --store compact|map    member tables in shared columns (default) or the engine's own Map store;
                         the event log is the same, the memory is not
  --probe-interval T     (default 1s; probe timeout is half of it)
  --gossip-interval T    (default 200ms)
  --log FILE             also write the event log there
  --json                 one JSON object (with event_log_hash) instead of the table
  --progress             a line on stderr every 5 s of simulated time (wall time, RSS)`;

class UsageError extends Error {}

function duration(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(v);
  if (!m) throw new UsageError(`${flag}: expected a duration like 300ms, 30s or 5m, got ${JSON.stringify(v)}`);
  const n = Number(m[1]);
  return Math.round(m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : n * 60_000);
}

function range(flag: string, v: string): [number, number] {
  const [a, b, ...rest] = v.split("..");
  if (b === undefined || rest.length) throw new UsageError(`${flag}: expected A..B, got ${JSON.stringify(v)}`);
  const r: [number, number] = [duration(flag, a), duration(flag, b)];
  if (r[0] > r[1]) throw new UsageError(`${flag}: ${a} is after ${b}`);
  return r;
}

/** One of `allowed`, or a UsageError naming them. */
function oneOf<T extends string>(flag: string, v: string, allowed: readonly T[]): T {
  const hit = allowed.find((a) => a === v);
  if (hit === undefined) throw new UsageError(`${flag}: expected ${allowed.join(" or ")}, got ${JSON.stringify(v)}`);
  return hit;
}

function share(flag: string, v: string, max = 1): number {
  const n = Number(v);
  if (v === "" || !Number.isFinite(n) || n < 0 || n >= max) throw new UsageError(`${flag}: expected a number in [0, ${max}), got ${JSON.stringify(v)}`);
  return n;
}

function integer(flag: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag}: expected an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}

export function parseArgs(argv: string[]): { cfg: ScenarioConfig; json: boolean; logFile: string | null; progress: boolean } {
  const cfg: ScenarioConfig = { nodes: 0, seed: NaN, loss: 0, latencyMs: [1, 20], kill: 1, partition: null, slow: 0, durationMs: 300_000, lifeguard: true, timings: {} };
  let json = false;
  let logFile: string | null = null;
  let progress = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${flag}: missing value`);
      return v;
    };
    switch (flag) {
      case "--nodes":
        cfg.nodes = integer(flag, value(), 3);
        break;
      case "--seed":
        cfg.seed = integer(flag, value(), 0);
        break;
      case "--loss":
        cfg.loss = share(flag, value());
        break;
      case "--latency": {
        const [a, b] = range(flag, value());
        if (a < 1) throw new UsageError(`${flag}: latency must be ≥ 1ms`);
        cfg.latencyMs = [a, b];
        break;
      }
      case "--kill":
        cfg.kill = integer(flag, value(), 0);
        break;
      case "--partition": {
        const v = value();
        const at = v.indexOf("@");
        if (at < 0) throw new UsageError(`${flag}: expected f@A..B, got ${JSON.stringify(v)}`);
        const fraction = share(flag, v.slice(0, at));
        const [fromMs, toMs] = range(flag, v.slice(at + 1));
        cfg.partition = { fraction, fromMs, toMs };
        break;
      }
      case "--slow":
        cfg.slow = share(flag, value());
        break;
      case "--slow-mode":
        cfg.slowMode = oneOf(flag, value(), ["loop", "recv"] as const);
        break;
      case "--stall":
        cfg.stallMs = range(flag, value());
        if (cfg.stallMs[0] < 1) throw new UsageError(`${flag}: must be ≥ 1ms`);
        break;
      case "--stall-gap":
        cfg.stallGapMs = range(flag, value());
        break;
      case "--duration":
        cfg.durationMs = duration(flag, value());
        break;
      case "--no-lifeguard":
        cfg.lifeguard = false;
        break;
      case "--settled":
        cfg.bootstrap = "settled";
        break;
      case "--store":
        cfg.store = oneOf(flag, value(), ["compact", "map"] as const);
        break;
      case "--probe-interval": {
        const ms = duration(flag, value());
        if (ms < 2) throw new UsageError(`${flag}: must be ≥ 2ms`);
        cfg.timings.probeIntervalMs = ms;
        cfg.timings.probeTimeoutMs = Math.round(ms / 2);
        break;
      }
      case "--gossip-interval":
        cfg.timings.gossipIntervalMs = duration(flag, value());
        if (cfg.timings.gossipIntervalMs < 1) throw new UsageError(`${flag}: must be ≥ 1ms`);
        break;
      case "--log":
        logFile = value();
        break;
      case "--json":
        json = true;
        break;
      case "--progress":
        progress = true;
        break;
      case "--help":
      case "-h":
        console.log(USAGE);
        process.exit(0);
      default:
        throw new UsageError(`unknown option ${JSON.stringify(flag)}`);
    }
  }
  if (cfg.nodes === 0) throw new UsageError("--nodes is required");
  if (Number.isNaN(cfg.seed)) throw new UsageError("--seed is required");
  if (cfg.kill > cfg.nodes - 3) throw new UsageError(`--kill: at most ${cfg.nodes - 3} of ${cfg.nodes} nodes`);
  if (cfg.partition && cfg.partition.toMs > cfg.durationMs) throw new UsageError("--partition: ends after --duration");
  return { cfg, json, logFile, progress };
}

function table(f: Figures): string {
  const ms = (v: number | null) => (v === null ? "—" : `${v} ms`);
  const rows: [string, string][] = [
    ["nodes / seed / lifeguard", `${f.nodes} / ${f.seed} / ${f.lifeguard ? "on" : "off"}`],
    ["bootstrap (N−1 all know all)", f.bootstrap === "settled" ? "settled (started with full tables)" : ms(f.bootstrap_ms)],
    ["join → 99.9% / all know", `${ms(f.join_999_ms)} / ${ms(f.join_all_ms)}`],
    ["crash → first suspicion", ms(f.detect_first_suspect_ms)],
    ["crash → first / all mark dead", `${ms(f.detect_first_dead_ms)} / ${ms(f.detect_all_dead_ms)}`],
    ["false positives (pairs / members)", `${f.false_positives} / ${f.false_positive_members}  (${f.false_positives_per_node_hour.toFixed(3)} per node-hour)`],
    ["  about healthy / slow members", `${f.false_positives_healthy} / ${f.false_positives_slow}  (healthy: ${f.false_positives_healthy_per_node_hour.toFixed(3)} per node-hour, ${f.false_positives_healthy_by_slow} of them declared by slow nodes)`],
    ["failed probes (wrong suspicions)", `${f.failed_probes_per_node_hour.toFixed(1)} per node-hour  (${f.failed_probes_by_slow} by slow nodes, ${f.failed_probes_by_healthy} by the others)`],
    ["refutations", String(f.refutations)],
    ["partition end → healed", ms(f.partition_heal_ms)],
    ["packets / bytes per node per s", `${f.msgs_per_node_s.toFixed(1)} / ${f.bytes_per_node_s.toFixed(0)}  (+ ${f.stream_bytes_per_node_s.toFixed(0)} stream bytes)`],
    ["memory per node (heap)", `${(f.memory_per_node_bytes / 1024).toFixed(1)} KiB  (peak RSS ${f.rss_peak_mib} MiB)`],
    ["wall per simulated s", `${(f.wall_per_sim_s * 1000).toFixed(1)} ms  (${f.sim_s.toFixed(1)} s simulated in ${f.wall_s.toFixed(1)} s)`],
    ["event log", `${f.events} events, sha256 ${f.event_log_hash}`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n");
}

if (import.meta.main) {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(Bun.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`sim: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  const { cfg, json, logFile, progress } = parsed;
  const writer = logFile ? Bun.file(logFile).writer() : null;
  const figures = await runScenario(cfg, writer ? (s) => void writer.write(s) : undefined, progress ? (line) => console.error(line) : undefined);
  await writer?.end();
  console.log(json ? JSON.stringify(figures) : table(figures));
  process.exit(0);
}
