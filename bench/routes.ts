// What the route table costs: the same node serving the same backends with no routes (the default pool),
// with one route, and with 200 routes (100 hosts × 2 path prefixes; the requests match the last host's
// longer prefix). The same wrk load goes to each, in interleaved rounds; ratios from the same round.
// First, the route table alone: nanoseconds per match() for the same three tables, in this process.
//   bun bench/routes.ts            (ROUNDS, DURATION, CONNS, PATHS as for bench/proxy.ts; PATHS default /small)
// Nodes listen on 127.0.0.2–4 with fixed ports, each alone in its cluster.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Children, processTree } from "./lib/procs.ts";
import { median } from "./lib/report.ts";
import { interleavedRounds, loadFromEnv, type WrkTarget } from "./lib/rounds.ts";
import { REPO_DIR, startBackends, waitReady } from "./lib/targets.ts";
import { parseConfig } from "../src/config/index.ts";
import { fallbackPool, RouteTable } from "../src/routing/routes.ts";

const LOAD = loadFromEnv({ rounds: 5, paths: "/small" });

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
  const targets: WrkTarget[] = [];
  for (const s of specs) {
    const child = children.spawn(s.name.replace(" ", "-"), ["bun", `${REPO_DIR}/src/main.ts`, nodeConfig(s.name.replace(" ", "-"), s.ip, s.tables), "--log-level", "warn"]);
    await waitReady(s.name, `http://${s.ip}:8080/small`, 15, child, children, 20_000);
    targets.push({ name: s.name, url: `http://${s.ip}:8080`, pids: () => processTree(child.proc.pid) });
  }
  const table = await interleavedRounds({
    title: "Route table cost",
    targets,
    load: LOAD,
    ratios: [
      { header: "rps vs 1 route", base: "1 route", metric: "rps" },
      { header: "rps vs no routes", base: "no routes", metric: "rps" },
    ],
    targetHeader: "node",
    cpuHeader: "cpu µs/req",
  });
  console.log(table);
} finally {
  await children.stopAll();
}
