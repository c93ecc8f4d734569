// Real-socket mode (issue 18): N real gossip engines in one Bun process, each with its own NetTransport
// (UDP + TCP on 127.0.0.1, port 0), encrypted with a cluster key, LAN timings, on the wall clock — to
// measure CPU per node and see what the simulated network hides. Not a test; run it alone:
//   flock -o /tmp/cpu-heavy.lock bun run bench:gossip-inprocess
//
// Per size and round, in a child process of its own (so its CPU time and RSS are the engines' alone):
// N−1 engines join through a seed one by one until everyone knows everyone; after SETTLE_S the steady
// window (STEADY_S): process CPU time, UDP packets (engine counters), UDP bytes (counted at the
// transport) and stream bytes, event-loop lag (a 10 ms interval timer's lateness), RSS; then the last engine joins through the seed (convergence); a
// second after everyone knows it one engine is stopped without a leave (detection). False positives
// (live members marked dead by a live engine) are counted from the steady window to the end.
// Next to it, at the same N and timings: the simulator (`bun sim/main.ts --json`, seed = round, latency
// 1 ms), and for N ≤ PROC_MAX one OS process per node (bench/gossip/peer.ts, as bench:gossip runs it).
// Prints medians and ratios in-process/simulator and in-process/processes.
//
// `--engines N` is that child: one round, one JSON line.
// Env: SIZES (32,128,256), ROUNDS (3), STEADY_S (20), SETTLE_S (5), PROC_MAX (32: more processes than
// this machine runs well), SIM (1; 0 = skip the simulator).

import { join } from "node:path";
import { configureLogging } from "../../src/log.ts";
import { fmtRatio, median, printTable } from "../lib/report.ts";
import { EngineCluster, lagProbe } from "./engines.ts";
import { processRound, type ProcessSample } from "./processes.ts";
import type { Figures } from "../../sim/scenario.ts";

const SIZES = (process.env.SIZES ?? "32,128,256").split(",").filter(Boolean).map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const STEADY_S = Number(process.env.STEADY_S ?? 20);
const SETTLE_S = Number(process.env.SETTLE_S ?? 5);
const PROC_MAX = Number(process.env.PROC_MAX ?? 32);
const SIM = process.env.SIM !== "0";
const KEY = new Uint8Array(32).map((_, i) => (i * 31 + 7) & 0xff);
// memberlist's DefaultLANConfig, spelled out so the three harnesses provably agree
const LAN = { probeIntervalMs: 1000, probeTimeoutMs: 500, gossipIntervalMs: 200, suspicionMult: 4, pushPullIntervalMs: 30_000 };

/** One in-process round, as the child prints it. */
interface EngineSample {
  n: number;
  bootstrapMs: number;
  joinOthers: number;
  converge: number;
  detectFirstSuspect: number;
  detectFirstDead: number;
  detectAll: number;
  /** Share of one core per engine over the steady window (process CPU time / N / wall). */
  cpuPerNode: number;
  packetsPerNodeS: number;
  udpBytesPerNodeS: number;
  streamBytesPerNodeS: number;
  rssPerNode: number;
  heapPerNode: number;
  lagP99: number;
  lagMax: number;
  falsePositives: number;
  falseSuspicions: number;
}

// ------------------------------------------------------------------ child: one cluster in this process

async function engineRound(n: number): Promise<EngineSample> {
  configureLogging({ level: "error" });
  const heap = () => {
    Bun.gc(true);
    return process.memoryUsage().heapUsed;
  };
  const rss0 = process.memoryUsage.rss();
  const heap0 = heap();
  const c = new EngineCluster({ timings: LAN, key: KEY });
  const tBoot = performance.now();
  await c.add();
  for (let i = 1; i < n - 1; i++) await c.join(await c.add(), 0);
  await c.until(() => c.converged(), 120_000, `bootstrap of ${n - 1} engines`);
  const bootstrapMs = performance.now() - tBoot;

  await Bun.sleep(SETTLE_S * 1000);
  const rssPerNode = (process.memoryUsage.rss() - rss0) / (n - 1);
  const heapPerNode = (heap() - heap0) / (n - 1);
  c.countFalseFrom();
  const lag = lagProbe();
  const traffic0 = c.traffic();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Bun.sleep(STEADY_S * 1000);
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - t0;
  const traffic = c.traffic();
  const { p99, max } = lag.stop();
  const perNodeS = (x: number) => x / (n - 1) / (wallMs / 1000);

  // the last engine joins through the seed
  const last = await c.add();
  const tj = performance.now();
  let joinOthers = NaN;
  const others = c.until(() => c.knownBy(last) === n, 30_000, "everyone knows the newcomer").then(() => {
    joinOthers = performance.now() - tj;
  });
  const itKnows = c.until(() => c.converged(), 30_000, "the newcomer knows everyone");
  await c.join(last, 0);
  await Promise.all([others, itKnows]);
  const converge = performance.now() - tj;

  // a second later, one engine (neither the seed nor the newcomer) stops without a leave
  await Bun.sleep(1000);
  const victim = 1 + Math.floor(Math.random() * (n - 2));
  const tc = performance.now();
  await c.crash(victim);
  let firstDead = NaN;
  const first = c.until(() => c.deadCount(victim) > 0, 120_000, "first dead").then(() => {
    firstDead = performance.now() - tc;
  });
  await c.until(() => c.deadCount(victim) === n - 1, 120_000, `all ${n - 1} survivors mark the crashed engine dead`);
  await first;
  const detectAll = performance.now() - tc;
  const suspected = c.suspectedAt(victim);
  await c.shutdown();
  return {
    n,
    bootstrapMs,
    joinOthers,
    converge,
    detectFirstSuspect: suspected === undefined ? NaN : suspected - tc,
    detectFirstDead: firstDead,
    detectAll,
    cpuPerNode: (cpu.user + cpu.system) / 1000 / wallMs / (n - 1),
    packetsPerNodeS: perNodeS(traffic.packets - traffic0.packets),
    udpBytesPerNodeS: perNodeS(traffic.udpBytes - traffic0.udpBytes),
    streamBytesPerNodeS: perNodeS(traffic.streamBytes - traffic0.streamBytes),
    rssPerNode,
    heapPerNode,
    lagP99: p99,
    lagMax: max,
    falsePositives: c.falsePositives,
    falseSuspicions: c.falseSuspicions,
  };
}

// ------------------------------------------------------------------ parent: the three side by side

async function runJson<T>(cmd: string[], what: string): Promise<T> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", env: { ...process.env } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${what}: exit ${code}: ${err.trim().split("\n").slice(-3).join(" | ")}`);
  return JSON.parse(out.trim().split("\n").pop() ?? "") as T;
}

const engines = (n: number) => runJson<EngineSample>(["bun", import.meta.path, "--engines", String(n)], `in-process n=${n}`);
const simulate = (n: number, seed: number) =>
  runJson<Figures>(["bun", join(import.meta.dir, "../../sim/main.ts"), "--nodes", String(n), "--seed", String(seed), "--latency", "1ms..1ms", "--duration", "60s", "--kill", "1", "--store", "map", "--json"], `simulator n=${n}`);
const processes = (n: number) =>
  processRound({
    binary: join(import.meta.dir, "peer.ts"),
    prefix: "p",
    n,
    flags: { key: KEY, probeInterval: "1s", probeTimeout: "500ms", gossipInterval: "200ms", suspicionMult: 4, pushPullInterval: "30s" },
    steadyMs: STEADY_S * 1000,
    settleMs: SETTLE_S * 1000,
  });

const say = (e: unknown) => String(e instanceof Error ? e.message : e).split("\n")[0]!.slice(0, 200);

async function main(): Promise<void> {
  console.log(
    `gossip in one process vs simulator vs one process per node: sizes ${SIZES.join(",")}, ${ROUNDS} rounds, LAN timings (probe 1 s, gossip 200 ms, suspicion mult 4), AES-256-GCM, loopback; steady window ${STEADY_S} s after ${SETTLE_S} s; ${navigator.hardwareConcurrency} cores`,
  );
  for (const n of SIZES) {
    const mine: EngineSample[] = [];
    const sims: Figures[] = [];
    const procs: ProcessSample[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // alternate which real mode runs first; the simulator is virtual time, its order does not matter
      const real: (() => Promise<void>)[] = [
        async () => {
          const s = await engines(n);
          mine.push(s);
          console.log(
            `  n=${n} round ${r + 1} in-process: join ${s.joinOthers.toFixed(0)} ms, suspect ${s.detectFirstSuspect.toFixed(0)} ms, dead first ${s.detectFirstDead.toFixed(0)} / all ${s.detectAll.toFixed(0)} ms, cpu ${(s.cpuPerNode * 100).toFixed(2)}%/node, lag p99 ${s.lagP99.toFixed(1)} max ${s.lagMax.toFixed(1)} ms, fp ${s.falsePositives}`,
          );
        },
      ];
      if (n <= PROC_MAX) {
        real.push(async () => {
          const s = await processes(n);
          procs.push(s);
          console.log(`  n=${n} round ${r + 1} processes: join ${s.joinOthers.toFixed(0)} ms, dead first ${s.detectFirst.toFixed(0)} / all ${s.detectAll.toFixed(0)} ms, cpu ${((s.cpuPerNode ?? NaN) * 100).toFixed(2)}%/node`);
        });
      }
      for (const run of r % 2 === 0 ? real : real.reverse()) {
        try {
          await run();
        } catch (e) {
          console.log(`  n=${n} round ${r + 1} FAILED: ${say(e)}`);
        }
      }
      if (SIM) {
        try {
          sims.push(await simulate(n, r + 1));
        } catch (e) {
          console.log(`  n=${n} round ${r + 1} simulator FAILED: ${say(e)}`);
        }
      }
    }
    console.log(`\nn=${n}: medians (in-process ${mine.length}/${ROUNDS} rounds, simulator ${sims.length}, processes ${procs.length})`);
    console.log(table(mine, sims, procs) + "\n");
  }
}

function table(mine: EngineSample[], sims: Figures[], procs: ProcessSample[]): string {
  const m = (xs: (number | null | undefined)[]) => {
    const v = xs.filter((x): x is number => typeof x === "number" && Number.isFinite(x));
    return v.length ? median(v) : NaN;
  };
  type Row = [label: string, mine: number, sim: number, proc: number, fmt: (x: number) => string];
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const kib = (x: number) => `${(x / 1024).toFixed(0)} KiB`;
  const num = (x: number) => x.toFixed(1);
  const rows: Row[] = [
    ["bootstrap: N−1 join, all know all", m(mine.map((s) => s.bootstrapMs)), m(sims.map((s) => s.bootstrap_ms)), NaN, ms],
    ["join → every node knows it", m(mine.map((s) => s.joinOthers)), m(sims.map((s) => s.join_all_ms)), m(procs.map((s) => s.joinOthers)), ms],
    ["join → converged both ways", m(mine.map((s) => s.converge)), NaN, m(procs.map((s) => s.converge)), ms],
    ["crash → first suspicion", m(mine.map((s) => s.detectFirstSuspect)), m(sims.map((s) => s.detect_first_suspect_ms)), NaN, ms],
    ["crash → first marks dead", m(mine.map((s) => s.detectFirstDead)), m(sims.map((s) => s.detect_first_dead_ms)), m(procs.map((s) => s.detectFirst)), ms],
    ["crash → all mark dead", m(mine.map((s) => s.detectAll)), m(sims.map((s) => s.detect_all_dead_ms)), m(procs.map((s) => s.detectAll)), ms],
    ["UDP packets / node·s", m(mine.map((s) => s.packetsPerNodeS)), m(sims.map((s) => s.msgs_per_node_s)), NaN, num],
    ["UDP bytes / node·s", m(mine.map((s) => s.udpBytesPerNodeS)), m(sims.map((s) => s.bytes_per_node_s)), NaN, num],
    ["stream bytes / node·s", m(mine.map((s) => s.streamBytesPerNodeS)), m(sims.map((s) => s.stream_bytes_per_node_s)), NaN, num],
    ["CPU, share of a core / node", m(mine.map((s) => s.cpuPerNode)), NaN, m(procs.map((s) => s.cpuPerNode)), pct],
    ["RSS / node", m(mine.map((s) => s.rssPerNode)), NaN, m(procs.map((s) => s.rssPerNode)), kib],
    ["heap / node", m(mine.map((s) => s.heapPerNode)), m(sims.map((s) => s.memory_per_node_bytes)), NaN, kib],
    ["event-loop lag p99", m(mine.map((s) => s.lagP99)), NaN, NaN, (x) => `${x.toFixed(1)} ms`],
    ["event-loop lag max", m(mine.map((s) => s.lagMax)), NaN, NaN, (x) => `${x.toFixed(1)} ms`],
    ["false positives (dead), sum", sum(mine.map((s) => s.falsePositives)), sum(sims.map((s) => s.false_positives)), NaN, (x) => x.toFixed(0)],
    ["false suspicions, sum", sum(mine.map((s) => s.falseSuspicions)), NaN, NaN, (x) => x.toFixed(0)],
  ];
  const cell = (x: number, f: (x: number) => string) => (Number.isFinite(x) ? f(x) : "—");
  const t = [["figure", "in-process", "simulator", "processes", "in-proc/sim", "in-proc/proc"]];
  for (const [label, a, b, c, f] of rows) t.push([label, cell(a, f), cell(b, f), cell(c, f), ratio(a, b), ratio(a, c)]);
  return printTable(t);
}

const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? fmtRatio(a / b) : "");
const sum = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) : NaN);

const at = Bun.argv.indexOf("--engines");
if (at >= 0) {
  const n = Number(Bun.argv[at + 1]);
  if (!Number.isInteger(n) || n < 3) {
    console.error("--engines: expected an integer ≥ 3");
    process.exit(2);
  }
  console.log(JSON.stringify(await engineRound(n)));
  process.exit(0);
} else {
  await main();
}
