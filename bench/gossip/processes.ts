// One gossip cluster of real processes (one OS process per node), driven through the reference peer's
// CLI (test/interop/gonode.ts): the Go peer or bench/gossip/peer.ts, which speaks the same flags and
// JSON events. Used by bench/gossip/run.ts (Bun vs Go) and bench/gossip/inprocess.ts (one process per
// node vs all engines in one process).
//
// A round: N−1 nodes join through the seed one by one and settle (everyone knows everyone); optionally
// their CPU and RSS are read from /proc over a steady window; the last node joins via the seed
// (convergence: everyone knows it, and it knows everyone); a second later one node is SIGKILLed
// (detection: the first and the last survivor to report it gone).

import { type GoEvent, GoNode, type GoNodeOptions } from "../../test/interop/gonode.ts";
import { cpuMicros, rssBytes } from "../lib/procs.ts";

export interface ProcessRoundOptions {
  /** The peer executable (Go binary, or a Bun script). */
  binary: string;
  /** Node names are `${prefix}-${i}`. */
  prefix: string;
  n: number;
  /** Timings and key, as peer flags. */
  flags: Omit<GoNodeOptions, "name" | "join">;
  /** Measure CPU and RSS of the settled N−1 nodes over this window after `settleMs` (0: skip). */
  steadyMs?: number;
  settleMs?: number;
}

export interface ProcessSample {
  /** The last node joined: until everyone knows it and it knows everyone. */
  converge: number;
  /** The last node joined: until every other node knows it. */
  joinOthers: number;
  detectFirst: number;
  detectAll: number;
  /** Share of one core per node, and resident bytes per node, over the steady window. */
  cpuPerNode?: number;
  rssPerNode?: number;
}

const isEvent = (event: string, name: string) => (e: GoEvent) => e.event === event && "name" in e && e.name === name;

export async function processRound(o: ProcessRoundOptions): Promise<ProcessSample> {
  const nodes: GoNode[] = [];
  const start = (name: string, joinTo: string[]) => GoNode.start(o.binary, { ...o.flags, name, join: joinTo }, 30_000);
  try {
    const seed = await start(`${o.prefix}-0`, []);
    nodes.push(seed);
    for (let i = 1; i < o.n - 1; i++) {
      const node = await start(`${o.prefix}-${i}`, [`127.0.0.1:${seed.port}`]);
      nodes.push(node);
      await node.waitFor((e) => e.event === "joined", 10_000);
    }
    // let the first n-1 settle, then time the last join
    await Promise.all(nodes.map((x) => Promise.all(nodes.map((y) => x.waitFor(isEvent("join", y.name), 30_000)))));
    let cpuPerNode: number | undefined;
    let rssPerNode: number | undefined;
    if (o.steadyMs) {
      await Bun.sleep(o.settleMs ?? 0);
      const pids = nodes.map((x) => x.pid);
      const cpu0 = cpuMicros(pids);
      const t = performance.now();
      await Bun.sleep(o.steadyMs);
      cpuPerNode = (cpuMicros(pids) - cpu0) / 1000 / (performance.now() - t) / nodes.length;
      rssPerNode = rssBytes(pids) / nodes.length;
    }
    const last = await start(`${o.prefix}-${o.n - 1}`, []);
    nodes.push(last);
    const t0 = performance.now();
    let joinOthers = NaN;
    const everyoneKnowsLast = Promise.all(nodes.map((x) => x.waitFor(isEvent("join", last.name), 15_000))).then(() => {
      joinOthers = performance.now() - t0;
    });
    const lastKnowsEveryone = Promise.all(nodes.map((y) => last.waitFor(isEvent("join", y.name), 15_000)));
    await last.join([`127.0.0.1:${seed.port}`]);
    await Promise.all([everyoneKnowsLast, lastKnowsEveryone]);
    const converge = performance.now() - t0;

    await Bun.sleep(1000);
    const victim = nodes[1 + Math.floor(Math.random() * (o.n - 2))]!;
    const survivors = nodes.filter((x) => x !== victim);
    const times: number[] = [];
    const t1 = performance.now();
    const detected = Promise.all(
      survivors.map((x) => x.next(isEvent("leave", victim.name), 120_000).then(() => times.push(performance.now() - t1))),
    );
    victim.kill();
    await detected;
    return { converge, joinOthers, detectFirst: Math.min(...times), detectAll: Math.max(...times), cpuPerNode, rssPerNode };
  } finally {
    for (const x of nodes) x.kill();
    await Promise.all(nodes.map((x) => x.exited));
    await Bun.sleep(300);
  }
}
