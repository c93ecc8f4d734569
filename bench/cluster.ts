// Hop overhead: node A has no healthy backend, node B has both; the same wrk load is sent to A
// (every request takes one hop to B) and to B directly, in interleaved rounds. Prints rps and
// p50/p99 per target and the ratios A/B from the same round.
//   bun bench/cluster.ts            (ROUNDS, DURATION, CONNS, PATHS as for bench/proxy.ts)
// Nodes listen on 127.0.0.2 (A) and 127.0.0.3 (B) so that wrk on 127.0.0.1 is not a member.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Children, processTree } from "./lib/procs.ts";
import { interleavedRounds, loadFromEnv } from "./lib/rounds.ts";
import { REPO_DIR, startBackends, waitReady } from "./lib/targets.ts";

const LOAD = loadFromEnv({ rounds: 3, paths: "/small,/64k" });
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
  const table = await interleavedRounds({
    title: "Cluster hop overhead",
    targets,
    load: LOAD,
    ratios: [
      { header: "rps vs direct", base: "direct at B", metric: "rps" },
      { header: "p99 vs direct", base: "direct at B", metric: "p99Us" },
    ],
    targetHeader: "target",
    cpuHeader: "cpu µs/req (all nodes)",
  });
  console.log(table);
} finally {
  await children.stopAll();
}
