// What the route table costs: the same node serving the same backends with no routes (the default pool),
// with one route, and with 200 routes (100 hosts × 2 path prefixes; the requests match the last host's
// longer prefix). The same wrk load goes to each, in interleaved rounds; ratios from the same round.
// First, the route table alone: nanoseconds per match() for the same three tables, in this process.
//   bun bench/routes.ts            (ROUNDS, DURATION, CONNS, PATHS as for bench/proxy.ts; PATHS default /small)
// Nodes listen on 127.0.0.2–4 with fixed ports, each alone in its cluster.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Children, cpuMicros, processTree } from "./lib/procs.ts";
import { fmtLatency, fmtRate, fmtRatio, median, printTable } from "./lib/report.ts";
import { REPO_DIR, startBackends, waitReady } from "./lib/targets.ts";
import { runWrk } from "./lib/wrk.ts";
import { parseConfig } from "../src/config/index.ts";
import { fallbackPool, RouteTable } from "../src/routing/routes.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const DURATION = Number.parseInt(process.env.DURATION ?? "5", 10);
const CONNS = (process.env.CONNS ?? "64").split(",").map(Number);
const PATHS = (process.env.PATHS ?? "/small").split(",");

const dir = process.env.BENCH_TMP ?? mkdtempSync(join(tmpdir(), "cc-bench-routes-"));
const children = new Children(dir, process.env.BENCH_TMP ? `${dir}/pids` : undefined);

function nodeConfig(name: string, ip: string, tables: string): string {
  const path = join(dir, `${name}.toml`);
  writeFileSync(
    path,
    `[cluster]
node_name = "${name}"
bind_address = "${ip}"
advertise_address = "${ip}"
listen_port = 7946
[proxy]
bind_address = "${ip}"
listen_port = 8080
workers = 1
[admin]
bind_address = "${ip}"
listen_port = 9901
${tables}
`,
  );
  return path;
}

const pool = (b1: number, b2: number) => `[[pools]]\nname = "svc"\n[[pools.backends]]\naddress = "127.0.0.1:${b1}"\n[[pools.backends]]\naddress = "127.0.0.1:${b2}"\n`;
const route = (host: string, prefix: string) => `[[routes]]\nhost = "${host}"\npath_prefix = "${prefix}"\npool = "svc"\n`;

/** ns per match() of a request for `host` /small against the routes `tables` configure. */
function matchCost(tables: string, host: string): number {
  const c = parseConfig(`[cluster]\nnode_name = "x"\n${tables}`, "bench");
  const t = new RouteTable(c.routes, fallbackPool(c.pools.map((p) => p.name)));
  const n = 2_000_000;
  let sink = 0;
  for (let i = 0; i < n / 10; i++) sink += t.match(host, "/small")!.pool.length;
  const t0 = Bun.nanoseconds();
  for (let i = 0; i < n; i++) sink += t.match(host, "/small")!.pool.length;
  const ns = (Bun.nanoseconds() - t0) / n;
  if (sink === 0) throw new Error("no match");
  return ns;
}

try {
  const { ports } = await startBackends(children);
  const specs = [
    { name: "no routes", ip: "127.0.0.2", tables: `[[backends]]\naddress = "127.0.0.1:${ports.b1}"\n[[backends]]\naddress = "127.0.0.1:${ports.b2}"\n` },
    { name: "1 route", ip: "127.0.0.3", tables: pool(ports.b1, ports.b2) + route("127.0.0.3", "/") },
    {
      name: "200 routes",
      ip: "127.0.0.4",
      tables:
        pool(ports.b1, ports.b2) +
        Array.from({ length: 99 }, (_, i) => route(`svc-${i}.bench.example`, "/small") + route(`svc-${i}.bench.example`, "/64k")).join("") +
        route("127.0.0.4", "/small") +
        route("127.0.0.4", "/64k"),
    },
  ];
  console.log(`route table alone, ns per match (median of 5): ${specs.map((s) => `${s.name} ${median(Array.from({ length: 5 }, () => matchCost(s.tables, `${s.ip}:8080`))).toFixed(0)}`).join(", ")}`);
  const targets: { name: string; url: string; pids: () => number[] }[] = [];
  for (const s of specs) {
    const child = children.spawn(s.name.replace(" ", "-"), ["bun", `${REPO_DIR}/src/main.ts`, nodeConfig(s.name.replace(" ", "-"), s.ip, s.tables), "--log-level", "warn"]);
    await waitReady(s.name, `http://${s.ip}:8080/small`, 15, child, children, 20_000);
    targets.push({ name: s.name, url: `http://${s.ip}:8080`, pids: () => processTree(child.proc.pid) });
  }
  for (const t of targets) for (const p of PATHS) await runWrk(t.url + p, 16, 1, `${t.name} warmup`);

  type Row = { rps: number[]; p50: number[]; p99: number[]; cpu: number[]; errors: number; vs1: number[]; vsNone: number[] };
  const rows = new Map<string, Row>();
  const row = (k: string): Row => {
    let r = rows.get(k);
    if (!r) rows.set(k, (r = { rps: [], p50: [], p99: [], cpu: [], errors: 0, vs1: [], vsNone: [] }));
    return r;
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const p of PATHS) {
      for (const c of CONNS) {
        const rps = new Map<string, number>();
        // Rotate the order each round so no target always runs first (or last).
        const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
        for (const t of order) {
          const pids = t.pids();
          const cpu0 = cpuMicros(pids);
          const w = await runWrk(t.url + p, c, DURATION, t.name);
          const r = row(`${t.name}|${p} c${c}`);
          r.rps.push(w.rps);
          r.p50.push(w.p50Us);
          r.p99.push(w.p99Us);
          r.cpu.push((cpuMicros(pids) - cpu0) / Math.max(1, w.requests));
          r.errors += w.non2xx + w.socketErrors;
          rps.set(t.name, w.rps);
        }
        for (const t of targets) {
          const r = row(`${t.name}|${p} c${c}`);
          r.vs1.push(rps.get(t.name)! / rps.get("1 route")!);
          r.vsNone.push(rps.get(t.name)! / rps.get("no routes")!);
        }
      }
    }
  }
  const table = [["node", "load", "rps", "p50", "p99", "cpu µs/req", "errors", "rps vs 1 route", "rps vs no routes"]];
  for (const [k, r] of rows) {
    const [name, load] = k.split("|");
    table.push([name!, load!, fmtRate(median(r.rps)), fmtLatency(median(r.p50)), fmtLatency(median(r.p99)), median(r.cpu).toFixed(1), String(r.errors), fmtRatio(median(r.vs1)), fmtRatio(median(r.vsNone))]);
  }
  console.log(`\nRoute table cost — ${ROUNDS} rounds × ${DURATION}s, wrk -t1, medians; ratios from the same round\n`);
  console.log(printTable(table));
} finally {
  await children.stopAll();
}
