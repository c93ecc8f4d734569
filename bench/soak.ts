// Soak: a node under steady wrk load for a long time; RSS of the whole node (primary + workers)
// sampled every segment. Passes when RSS grows less than 10% from the first loaded sample and no
// request fails.  bun bench/soak.ts   (SOAK_S=600, CONNS=256, PATH=/small, WORKERS=1)

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Children, processTree, rssBytes } from "./lib/procs.ts";
import { fmtBytes } from "./lib/report.ts";
import { startBackends, startClusterClub } from "./lib/targets.ts";
import { runWrk } from "./lib/wrk.ts";

const SOAK_S = Number(process.env.SOAK_S ?? 600);
const SEGMENT_S = Math.min(30, SOAK_S);
const CONNS = Number(process.env.CONNS ?? 256);
const PATH = process.env.PATH_ ?? "/small";
const WORKERS = Number(process.env.WORKERS ?? 1);

const dir = process.env.BENCH_TMP ?? mkdtempSync(join(tmpdir(), "cc-soak-"));
const children = new Children(dir, process.env.BENCH_TMP ? `${dir}/pids` : undefined);
try {
  const { ports } = await startBackends(children);
  const node = await startClusterClub(children, ports, undefined, 30_000, WORKERS);
  if (typeof node === "string") throw new Error(node);
  const url = `http://127.0.0.1:${node.port}${PATH}`;
  await runWrk(url, CONNS, 5, "warm-up");
  const rss = () => rssBytes(processTree(node.child!.proc.pid));
  const samples: number[] = [rss()];
  let requests = 0;
  let errors = 0;
  const t0 = performance.now();
  while ((performance.now() - t0) / 1000 < SOAK_S) {
    const w = await runWrk(url, CONNS, SEGMENT_S, "soak");
    requests += w.requests;
    errors += w.non2xx + w.socketErrors;
    samples.push(rss());
    console.log(`  ${Math.round((performance.now() - t0) / 1000)}s  ${Math.round(w.rps)} rps  p99 ${(w.p99Us / 1000).toFixed(1)}ms  rss ${fmtBytes(samples.at(-1)!)}  errors ${w.non2xx + w.socketErrors}`);
  }
  const first = samples[1] ?? samples[0]!;
  const last = samples.at(-1)!;
  const growth = (last - first) / first;
  console.log(
    `\nsoak ${SOAK_S}s at c${CONNS} ${PATH} (workers ${WORKERS}): ${requests} requests, ${errors} errors; RSS idle ${fmtBytes(samples[0]!)}, first loaded ${fmtBytes(first)}, max ${fmtBytes(Math.max(...samples))}, end ${fmtBytes(last)}, growth ${(growth * 100).toFixed(1)}% → ${growth < 0.1 && errors === 0 ? "PASS" : "FAIL"}`,
  );
} finally {
  await children.stopAll();
}
