// Proxy benchmark: ClusterClub vs nginx, HAProxy, a plain Bun proxy, two Node.js proxies and the backend directly.
// Run through bench/run.sh (`bun run bench`), which installs the tools and owns the cleanup trap.
// Environment: ROUNDS (3), DURATION (5s), WARMUP (2s), CONNS (64,256), PATHS (/small,/64k),
// TARGETS (direct,nginx,haproxy,clusterclub,plain,nodehttpproxy,fastify,nginx2,haproxy2,clusterclub2), CC_CMD, CC_READY_TIMEOUT (30s), BENCH_TMP, BENCH_OUT.

import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { BenchError, Children, cpuMicros, processTree, rssBytes, rssSampler } from "./lib/procs.ts";
import { fmtBytes, fmtLatency, fmtRate, fmtRatio, median, printTable } from "./lib/report.ts";
import {
  NODE_PEERS, REPO_DIR, type Ports, type Target, nodePeerVersions, startBackends, startClusterClub, startHaproxy, startNginx,
  startNodePeer, startPlain,
} from "./lib/targets.ts";
import { runWrk, type WrkResult } from "./lib/wrk.ts";

function seconds(name: string, fallback: string): number {
  const raw = process.env[name] ?? fallback;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw.trim());
  if (!m) throw new BenchError("harness", `${name}="${raw}": expected e.g. 5s, 500ms, 1m`);
  const v = Number(m[1]) * (m[2] === "ms" ? 0.001 : m[2] === "m" ? 60 : 1);
  return Math.max(1, Math.round(v)); // wrk takes whole seconds
}

function list(name: string, fallback: string): string[] {
  return (process.env[name] ?? fallback).split(",").map((s) => s.trim()).filter((s) => s.length > 0);
}

const ROUNDS = Math.max(1, Number(process.env.ROUNDS ?? 3) | 0);
const DURATION = seconds("DURATION", "5s");
const WARMUP = seconds("WARMUP", "2s");
const CONNS = list("CONNS", "64,256").map(Number);
const PATHS = list("PATHS", "/small,/64k");
// "2" = two processes/threads: nginx2 (2 workers), haproxy2 (nbthread 2), clusterclub2 (proxy.workers = 2).
// nodehttpproxy and fastify: Node.js peers from bench/peers, one process each.
// clusterclub-log: the same node with the access log on (JSON lines to a file); nginx-log: nginx with its
// access log on, the same fields and buffering (its loss next to ours); neither is in the default list.
const ALL_TARGETS = ["direct", "nginx", "haproxy", "clusterclub", "plain", "nodehttpproxy", "fastify", "nginx2", "haproxy2", "clusterclub2", "clusterclub-log", "nginx-log"];
const TARGETS = list("TARGETS", "direct,nginx,haproxy,clusterclub,plain,nodehttpproxy,fastify,nginx2,haproxy2,clusterclub2");
const CC_READY_MS = seconds("CC_READY_TIMEOUT", "30s") * 1000;
const OUT_DIR = process.env.BENCH_OUT ?? `${REPO_DIR}/.bench-out`;
const BODY_LEN: Record<string, number> = { "/small": 15, "/64k": 65536 };

for (const t of TARGETS) if (!ALL_TARGETS.includes(t)) throw new BenchError("harness", `TARGETS: unknown "${t}" (known: ${ALL_TARGETS.join(", ")})`);
for (const p of PATHS) if (!(p in BODY_LEN)) throw new BenchError("harness", `PATHS: unknown "${p}"`);
for (const c of CONNS) if (!Number.isInteger(c) || c < 1) throw new BenchError("harness", `CONNS: "${c}" is not a positive integer`);

interface Load { path: string; conns: number; label: string }
const LOADS: Load[] = PATHS.flatMap((path) => CONNS.map((conns) => ({ path, conns, label: `${path.slice(1)} c${conns}` })));

interface RunRecord {
  round: number;
  target: string;
  load: string;
  wrk: WrkResult;
  proxyCpuUs: number | null;
  backendCpuUs: number;
  backendRequests: number;
  backendConns: number;
  rssPeak: number | null;
}

interface BackendStats { requests: number; conns: number }

async function backendStats(ports: Ports, reset: boolean): Promise<BackendStats> {
  const sum = { requests: 0, conns: 0 };
  for (const p of [ports.b1, ports.b2]) {
    const res = await fetch(`http://127.0.0.1:${p}/__stats${reset ? "?reset" : ""}`);
    const j = (await res.json()) as BackendStats;
    sum.requests += j.requests;
    sum.conns += j.conns;
  }
  return sum;
}

function portRangeSize(): number {
  try {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    return hi - lo + 1;
  } catch {
    return 28232;
  }
}

function version(cmd: string[], re: RegExp): string {
  const r = Bun.spawnSync(cmd);
  const text = r.stdout.toString() + r.stderr.toString();
  return re.exec(text)?.[1] ?? "?";
}

async function main(): Promise<void> {
  const dir = process.env.BENCH_TMP ?? mkdtempSync(`${tmpdir()}/cc-bench-`);
  const children = new Children(dir, process.env.BENCH_TMP ? `${dir}/pids` : undefined);
  let stopping = false;
  const onSignal = (sig: string, code: number) => async () => {
    if (stopping) return;
    stopping = true;
    console.error(`\n${sig}: stopping everything`);
    await children.stopAll(1000);
    process.exit(code);
  };
  process.on("SIGINT", onSignal("SIGINT", 130));
  process.on("SIGTERM", onSignal("SIGTERM", 143));
  process.on("exit", () => children.killAllNow());

  try {
    await run(children);
  } finally {
    await children.stopAll();
  }
}

async function run(children: Children): Promise<void> {
  const env = {
    date: new Date().toISOString(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "?",
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
    bun: Bun.version,
    nginx: version(["nginx", "-v"], /nginx\/(\S+)/),
    haproxy: version(["haproxy", "-v"], /version (\S+)/),
    wrk: version(["wrk", "-v"], /wrk (\S+)/),
    nodePeers: TARGETS.some((t) => t in NODE_PEERS) ? nodePeerVersions() : null,
    rounds: ROUNDS, durationS: DURATION, warmupS: WARMUP,
  };
  console.log(`proxy bench: ${env.cpus} cores (${env.cpuModel}), load ${env.loadavg.join(" ")}, bun ${env.bun}, nginx ${env.nginx}, haproxy ${env.haproxy}, wrk ${env.wrk}`);
  if (env.nodePeers) console.log(`node peers: ${Object.entries(env.nodePeers).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  console.log(`rounds ${ROUNDS} × ${DURATION}s per run, warm-up ${WARMUP}s, loads ${LOADS.map((l) => l.label).join(", ")}; wrk -t1`);

  const { ports, procs: backends } = await startBackends(children);
  const targets: Target[] = [];
  let ccSkipped: string | null = null;
  for (const name of TARGETS) {
    if (name === "direct") targets.push({ name, port: ports.b1, child: null });
    if (name === "nginx" || name === "nginx2") targets.push(await startNginx(children, ports, name === "nginx2" ? 2 : 1));
    if (name === "nginx-log") targets.push(await startNginx(children, ports, 1, true));
    if (name === "haproxy" || name === "haproxy2") targets.push(await startHaproxy(children, ports, name === "haproxy2" ? 2 : 1));
    if (name === "plain") targets.push(await startPlain(children, ports));
    if (name in NODE_PEERS) targets.push(await startNodePeer(children, ports, name));
    if (name === "clusterclub" || name === "clusterclub2" || name === "clusterclub-log") {
      const variant = name === "clusterclub-log" ? "log" : undefined;
      const t = await startClusterClub(children, ports, process.env.CC_CMD, CC_READY_MS, name === "clusterclub2" ? 2 : 1, variant);
      if (typeof t === "string") {
        ccSkipped = t;
        console.log(`\n*** ${name} column SKIPPED: ${t}\n`);
      } else targets.push(t);
    }
  }
  console.log(`started: ${targets.map((t) => `${t.name}@${t.port}`).join(", ")}; backends @${ports.b1},${ports.b2}`);

  const trees = new Map<string, number[]>();
  const rssIdle = new Map<string, number>();
  for (const t of targets) {
    if (!t.child) continue;
    const tree = processTree(t.child.proc.pid);
    trees.set(t.name, tree);
    rssIdle.set(t.name, rssBytes(tree));
  }

  for (const t of targets) {
    for (const path of PATHS) await runWrk(`http://127.0.0.1:${t.port}${path}`, 64, WARMUP, `${t.name} warm-up`);
  }

  const backendTree = backends.flatMap((b) => processTree(b.proc.pid));
  const records: RunRecord[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const load of LOADS) {
      // Rotate the order each round so no target always runs right after the same neighbour.
      const order = targets.map((_, i) => targets[(i + round) % targets.length]);
      for (const t of order) {
        const tree = t.child ? processTree(t.child.proc.pid) : null;
        if (tree) trees.set(t.name, tree);
        await backendStats(ports, true);
        const cpu0 = tree ? cpuMicros(tree) : 0;
        const bcpu0 = cpuMicros(backendTree);
        const sampler = tree ? rssSampler(tree) : null;
        const wrk = await runWrk(`http://127.0.0.1:${t.port}${load.path}`, load.conns, DURATION, `${t.name} ${load.label}`);
        const rssPeak = sampler ? sampler.stop() : null;
        const proxyCpuUs = tree ? cpuMicros(tree) - cpu0 : null;
        const backendCpuUs = cpuMicros(backendTree) - bcpu0;
        const bs = await backendStats(ports, false);
        records.push({ round, target: t.name, load: load.label, wrk, proxyCpuUs, backendCpuUs, backendRequests: bs.requests, backendConns: bs.conns, rssPeak });
        const errs = wrk.non2xx + wrk.socketErrors;
        console.log(`  round ${round + 1}/${ROUNDS} ${load.label.padEnd(10)} ${t.name.padEnd(11)} ${fmtRate(wrk.rps).padStart(7)} rps` +
          `  p99 ${fmtLatency(wrk.p99Us)}${errs > 0 ? `  errors ${errs}` : ""}`);
      }
    }
  }

  const summary = summarise(targets, records, rssIdle);
  const table = renderTable(summary);
  console.log();
  console.log(table);
  if (ccSkipped) console.log(`\nclusterclub: skipped (${ccSkipped})`);

  mkdirSync(OUT_DIR, { recursive: true });
  const json = JSON.stringify({ env, loads: LOADS, skipped: ccSkipped ? { clusterclub: ccSkipped } : {}, summary, runs: records }, null, 2);
  const stamp = env.date.replace(/[:.]/g, "-");
  writeFileSync(`${OUT_DIR}/proxy-${stamp}.json`, json);
  writeFileSync(`${OUT_DIR}/proxy-latest.json`, json);
  writeFileSync(`${OUT_DIR}/proxy-latest.txt`, table + "\n");
  console.log(`\nwritten: ${OUT_DIR}/proxy-${stamp}.json (and proxy-latest.json/.txt)`);
}

interface SummaryRow {
  target: string;
  load: string;
  rps: number;
  p50Us: number;
  p99Us: number;
  proxyCpuUsPerReq: number | null;
  backendCpuUsPerReq: number;
  upstreamConnsPerS: number;
  upstreamConnsLowerBound: boolean;
  backendReqPerClientReq: number;
  non2xx: number;
  socketErrors: number;
  rssIdle: number | null;
  rssLoad: number | null;
  /** rps(target)/rps(ref) per round, then the median. */
  vs: Record<string, number | null>;
}

const REFS = ["nginx", "haproxy", "direct", "plain", "clusterclub"];

function summarise(targets: Target[], records: RunRecord[], rssIdle: Map<string, number>): SummaryRow[] {
  const ports = portRangeSize();
  const rows: SummaryRow[] = [];
  for (const t of targets) {
    for (const load of LOADS) {
      const rs = records.filter((r) => r.target === t.name && r.load === load.label);
      const rssLoads = rs.map((r) => r.rssPeak).filter((x): x is number => x !== null);
      const vs: Record<string, number | null> = {};
      // Compare like with like: two-process targets against the two-process references.
      const suffix = t.name.endsWith("2") ? "2" : "";
      for (const ref of REFS) {
        const refName = ref === "nginx" || ref === "haproxy" ? ref + suffix : ref;
        const ratios: number[] = [];
        for (const r of rs) {
          const other = records.find((o) => o.target === refName && o.load === load.label && o.round === r.round);
          if (other && refName !== t.name) ratios.push(r.wrk.rps / other.wrk.rps);
        }
        vs[ref] = ratios.length > 0 ? median(ratios) : null;
      }
      rows.push({
        target: t.name,
        load: load.label,
        rps: median(rs.map((r) => r.wrk.rps)),
        p50Us: median(rs.map((r) => r.wrk.p50Us)),
        p99Us: median(rs.map((r) => r.wrk.p99Us)),
        proxyCpuUsPerReq: t.child ? median(rs.map((r) => (r.proxyCpuUs ?? 0) / Math.max(1, r.wrk.requests))) : null,
        backendCpuUsPerReq: median(rs.map((r) => r.backendCpuUs / Math.max(1, r.wrk.requests))),
        upstreamConnsPerS: median(rs.map((r) => r.backendConns / r.wrk.durationS)),
        // Counting distinct source ports cannot see past one use of each port per window.
        upstreamConnsLowerBound: rs.some((r) => r.backendConns > ports / 2),
        backendReqPerClientReq: median(rs.map((r) => r.backendRequests / Math.max(1, r.wrk.requests))),
        non2xx: rs.reduce((a, r) => a + r.wrk.non2xx, 0),
        socketErrors: rs.reduce((a, r) => a + r.wrk.socketErrors, 0),
        rssIdle: rssIdle.get(t.name) ?? null,
        rssLoad: rssLoads.length > 0 ? Math.max(...rssLoads) : null,
        vs,
      });
    }
  }
  return rows;
}

function renderTable(rows: SummaryRow[]): string {
  const head = ["target", "load", "rps", "p50", "p99", "cpu µs/req", "new up conn/s", "non2xx/sockerr", "rss idle", "rss load",
    "vs nginx", "vs haproxy", "vs direct", "vs plain", "vs clusterclub"];
  const body = rows.map((r) => [
    r.target, r.load, fmtRate(r.rps), fmtLatency(r.p50Us), fmtLatency(r.p99Us),
    r.proxyCpuUsPerReq === null ? "-" : r.proxyCpuUsPerReq.toFixed(1),
    r.target === "direct" ? "-" : `${r.upstreamConnsLowerBound ? "≥" : ""}${r.upstreamConnsPerS.toFixed(r.upstreamConnsPerS < 10 ? 1 : 0)}`,
    `${r.non2xx}/${r.socketErrors}`,
    r.rssIdle === null ? "-" : fmtBytes(r.rssIdle), r.rssLoad === null ? "-" : fmtBytes(r.rssLoad),
    fmtRatio(r.vs.nginx), fmtRatio(r.vs.haproxy), fmtRatio(r.vs.direct), fmtRatio(r.vs.plain), fmtRatio(r.vs.clusterclub),
  ]);
  return printTable([head, ...body]);
}

try {
  await main();
} catch (e) {
  console.error(`bench failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
