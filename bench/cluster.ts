// Hop overhead: node A has no healthy backend, node B has both; the same wrk load is sent to A
// (every request takes one hop to B) and to B directly, in interleaved rounds. Prints rps and
// p50/p99 per target and the ratios A/B from the same round.
//   bun bench/cluster.ts            (ROUNDS, DURATION, CONNS, PATHS as for bench/proxy.ts)
// Nodes listen on 127.0.0.2 (A) and 127.0.0.3 (B) so that wrk on 127.0.0.1 is not a member.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Children, cpuMicros, processTree } from "./lib/procs.ts";
import { fmtLatency, fmtRate, fmtRatio, median, printTable } from "./lib/report.ts";
import { REPO_DIR, startBackends, waitReady } from "./lib/targets.ts";
import { runWrk } from "./lib/wrk.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const DURATION = Number.parseInt(process.env.DURATION ?? "5", 10);
const CONNS = (process.env.CONNS ?? "64").split(",").map(Number);
const PATHS = (process.env.PATHS ?? "/small,/64k").split(",");
const LEN: Record<string, number> = { "/small": 15, "/64k": 65536 };

const dir = process.env.BENCH_TMP ?? mkdtempSync(join(tmpdir(), "cc-bench-cluster-"));
const children = new Children(dir, process.env.BENCH_TMP ? `${dir}/pids` : undefined);

function nodeConfig(name: string, ip: string, backends: string[], peers: string[]): string {
  const path = join(dir, `${name}.toml`);
  writeFileSync(
    path,
    `[cluster]
node_name = "${name}"
bind_address = "${ip}"
advertise_address = "${ip}"
listen_port = 7946
shared_key = "bench"
peers = ${JSON.stringify(peers)}
[proxy]
bind_address = "${ip}"
listen_port = 8080
[admin]
bind_address = "${ip}"
listen_port = 9901
${backends.map((b) => `[[backends]]\naddress = "${b}"`).join("\n")}
`,
  );
  return path;
}

try {
  const { ports } = await startBackends(children);
  // A's only backend is a closed port: A has 0 healthy backends, so it forwards everything to B.
  const b = children.spawn("node-b", ["bun", `${REPO_DIR}/src/main.ts`, nodeConfig("B", "127.0.0.3", [`127.0.0.1:${ports.b1}`, `127.0.0.1:${ports.b2}`], []), "--log-level", "warn"]);
  const a = children.spawn("node-a", ["bun", `${REPO_DIR}/src/main.ts`, nodeConfig("A", "127.0.0.2", ["127.0.0.2:1"], ["127.0.0.3:7946"]), "--log-level", "warn"]);
  await waitReady("B", "http://127.0.0.3:8080/small", 15, b, children, 20_000);
  await waitReady("A", "http://127.0.0.2:8080/small", 15, a, children, 20_000);
  // Through A, every answer must come via B (B's backends).
  const targets = [
    { name: "one hop (A→B)", url: "http://127.0.0.2:8080", pids: () => [...processTree(a.proc.pid), ...processTree(b.proc.pid)] },
    { name: "direct at B", url: "http://127.0.0.3:8080", pids: () => processTree(b.proc.pid) },
  ];
  for (const t of targets) for (const p of PATHS) await runWrk(t.url + p, 16, 1, `${t.name} warmup`);

  type Row = { rps: number[]; p50: number[]; p99: number[]; cpu: number[]; errors: number; ratio: number[]; ratioP99: number[] };
  const rows = new Map<string, Row>();
  const row = (k: string): Row => {
    let r = rows.get(k);
    if (!r) rows.set(k, (r = { rps: [], p50: [], p99: [], cpu: [], errors: 0, ratio: [], ratioP99: [] }));
    return r;
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const p of PATHS) {
      for (const c of CONNS) {
        const results = [];
        const order = round % 2 === 0 ? targets : [...targets].reverse();
        for (const t of order) {
          const pids = t.pids();
          const cpu0 = cpuMicros(pids);
          const w = await runWrk(t.url + p, c, DURATION, t.name);
          const cpu = (cpuMicros(pids) - cpu0) / Math.max(1, w.requests);
          const r = row(`${t.name}|${p} c${c}`);
          r.rps.push(w.rps);
          r.p50.push(w.p50Us);
          r.p99.push(w.p99Us);
          r.cpu.push(cpu);
          r.errors += w.non2xx + w.socketErrors;
          results.push({ t, w });
        }
        const hop = results.find((x) => x.t === targets[0])!.w;
        const direct = results.find((x) => x.t === targets[1])!.w;
        row(`${targets[0]!.name}|${p} c${c}`).ratio.push(hop.rps / direct.rps);
        row(`${targets[0]!.name}|${p} c${c}`).ratioP99.push(hop.p99Us / direct.p99Us);
      }
    }
  }
  const table = [["target", "load", "rps", "p50", "p99", "cpu µs/req (all nodes)", "errors", "rps vs direct", "p99 vs direct"]];
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
      r.ratio.length ? fmtRatio(median(r.ratio)) : "",
      r.ratioP99.length ? fmtRatio(median(r.ratioP99)) : "",
    ]);
  }
  console.log(`\nCluster hop overhead — ${ROUNDS} rounds × ${DURATION}s, wrk -t1, medians; ratios from the same round\n`);
  console.log(printTable(table));
} finally {
  await children.stopAll();
}
