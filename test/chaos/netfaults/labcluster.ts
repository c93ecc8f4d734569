// Node processes on the hosts of the namespace lab (test/cluster/multihost/lab.ts), and partitions
// between groups of hosts.
//
// A partition between two groups: every host of one group gets a permanent neighbour (ARP) entry with an
// unused MAC address for every host of the other, and the other way round. Packets across the cut are
// sent to nobody and silently lost (like a cut link between two switches: no error, no ICMP), while each
// group stays connected inside, and the controller (the test process) and the client still reach
// everyone. Detaching veths from the bridge (lab.setLink) cannot split 5 hosts 3/2 with both sides
// connected inside, so setLink is used only to cut one host off from everything.

import { spawnSync } from "node:child_process";
import type { Subprocess } from "bun";
import type { Host, Lab } from "../../cluster/multihost/lab.ts";
import { BACKEND_PORT, BACKENDS, converged, GOSSIP_PORT, type HostSpec, LOADGEN, type NodeConfig, NodeProc, Workdir } from "./cluster.ts";
import type { LoadOutcome } from "./loadgen.ts";

/** A MAC address no interface has (locally administered). */
const NOWHERE_MAC = "02:00:5e:c1:0c:01";

function ipIn(ns: string, args: string[], allowFail = false): void {
  const r = spawnSync("ip", ["-n", ns, ...args], { encoding: "utf8" });
  if (r.status !== 0 && !allowFail) throw new Error(`ip -n ${ns} ${args.join(" ")} failed: ${r.stderr}`);
}

/** Silently drops every packet between the two groups (both directions). */
export function cut(a: readonly Host[], b: readonly Host[]): void {
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    for (const x of from) for (const y of to) ipIn(x.ns, ["neigh", "replace", y.ip, "lladdr", NOWHERE_MAC, "dev", "eth0", "nud", "permanent"]);
  }
}

/** Undoes cut(): neighbours are resolved by ARP again. */
export function heal(a: readonly Host[], b: readonly Host[]): void {
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    for (const x of from) for (const y of to) ipIn(x.ns, ["neigh", "del", y.ip, "dev", "eth0"], true);
  }
}

export interface LabCluster {
  nodes: NodeProc[];
  expect: Record<string, number>;
  converged(timeoutMs?: number): Promise<number>;
}

/**
 * One node (proxy on all addresses, so a client inside the host can use 127.0.0.1) and one backends process
 * per lab host, `backends[i]` backends on 127.0.0.1 in host i, every node seeded with the first host.
 */
export async function startLabCluster(lab: Lab, backends: number[], cfg: NodeConfig): Promise<LabCluster> {
  const work = new Workdir();
  const nodes: NodeProc[] = [];
  const specs: HostSpec[] = lab.hosts.map((h, i) => ({ name: h.name, ip: h.ip, backends: Array.from({ length: backends[i]! }, (_, k) => `${h.name}-b${k + 1}`) }));
  const ready: Promise<string>[] = [];
  lab.hosts.forEach((h, i) => {
    const p = lab.spawn(h, ["bun", BACKENDS, ...specs[i]!.backends.map((b, k) => `127.0.0.1:${BACKEND_PORT + k}:${b}`)], { stdout: "pipe" });
    ready.push(firstLineOf(p));
  });
  await Promise.all(ready);
  lab.hosts.forEach((h, i) => {
    const spec = specs[i]!;
    const seeds = i === 0 ? [] : [`${lab.hosts[0]!.ip}:${GOSSIP_PORT}`];
    const { cmd, logPath, faultFile } = work.nodeCommand(spec, work.nodeConfig(spec, seeds, cfg, "127.0.0.1", "0.0.0.0"), {});
    nodes.push(new NodeProc(spec, lab.spawn(h, cmd), logPath, faultFile));
  });
  const expect = Object.fromEntries(specs.map((s) => [`node-${s.name}`, s.backends.length]));
  const c: LabCluster = { nodes, expect, converged: (t = 30_000) => converged(nodes, expect, t) };
  await c.converged();
  return c;
}

async function firstLineOf(p: Subprocess): Promise<string> {
  const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`backends process exited (${p.exitCode})`);
    buf += new TextDecoder().decode(value);
    if (buf.includes("\n")) {
      reader.releaseLock();
      return buf;
    }
  }
}

/** The load generator inside a host's namespace. */
export function labLoad(lab: Lab, from: Host, urls: string[], o: { rate: number; durationMs: number; timeoutMs?: number }): Promise<LoadOutcome> {
  const p = lab.spawn(from, ["bun", LOADGEN, "--urls", urls.join(","), "--rate", String(o.rate), "--duration", String(o.durationMs), "--timeout", String(o.timeoutMs ?? 10_000)], {
    stdout: "pipe",
  });
  return (async () => {
    const text = await new Response(p.stdout as ReadableStream).text();
    await p.exited;
    try {
      return JSON.parse(text) as LoadOutcome;
    } catch {
      throw new Error(`load generator in ${from.name} printed no result (exit ${p.exitCode}): ${text.slice(0, 500)}`);
    }
  })();
}
