// Network-fault scenarios: a cluster of real node processes, each on its own address (a loopback
// address 127.x.y.z, or a host of the namespace lab), with its backends in one helper process per host,
// gossip faults driven through CLUSTERCLUB_TEST_FAULTS (a control file re-read on SIGUSR1; nodes start through
// the test entry point test/helpers/faultynode.ts, which wraps their gossip transport), membership
// watched from outside through /status, and the counters read from /metrics and the nodes' logs.

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { FaultSpec } from "../../helpers/faults.ts";
import { LAB_PORTS, labNodeToml } from "../../helpers/labnode.ts";
import { until } from "../../helpers/node.ts";
import type { LoadOutcome } from "./loadgen.ts";

export const ROOT = join(import.meta.dir, "../../..");
/** The CLI with a fault-injecting gossip transport. */
export const FAULTY_NODE = join(ROOT, "test/helpers/faultynode.ts");
export const BACKENDS = join(import.meta.dir, "backends.ts");
export const LOADGEN = join(import.meta.dir, "loadgen.ts");
export const { gossip: GOSSIP_PORT, proxy: PROXY_PORT, admin: ADMIN_PORT } = LAB_PORTS;
export const BACKEND_PORT = 3001;

export { FAST_TIMINGS } from "../../helpers/labnode.ts";

export interface HostSpec {
  name: string;
  ip: string;
  /** Backend names; they listen on 127.0.0.1 in a lab host, on the host's own address on loopback. */
  backends: string[];
}

export interface NodeConfig {
  cluster?: Record<string, string | number>;
  health?: Record<string, string | number>;
  proxy?: Record<string, string | number>;
}

export interface MemberView {
  name: string;
  state: string;
  incarnation: number;
  weight: number;
  meta: { healthy?: number };
}

export interface StatusView {
  node: string;
  healthy_backends: number;
  members: MemberView[];
}

export type Metrics = Map<string, number>;

/** Prometheus text → "name{labels}" → value. */
export function parseMetrics(text: string): Metrics {
  const m: Metrics = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const sp = line.lastIndexOf(" ");
    m.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return m;
}

export interface LogLine {
  time: string;
  level: string;
  msg: string;
  [k: string]: unknown;
}

export class NodeProc {
  readonly adminUrl: string;
  readonly url: string;

  constructor(
    readonly host: HostSpec,
    readonly proc: Subprocess,
    readonly logPath: string,
    readonly faultFile: string,
    /** Address clients use for the proxy (the host's address). */
    proxyIp = host.ip,
  ) {
    this.adminUrl = `http://${host.ip}:${ADMIN_PORT}`;
    this.url = `http://${proxyIp}:${PROXY_PORT}/`;
  }

  get name(): string {
    return `node-${this.host.name}`;
  }

  async status(timeoutMs = 1000): Promise<StatusView> {
    const r = await fetch(`${this.adminUrl}/status`, { signal: AbortSignal.timeout(timeoutMs) });
    return (await r.json()) as StatusView;
  }

  async metrics(): Promise<Metrics> {
    const r = await fetch(`${this.adminUrl}/metrics`, { signal: AbortSignal.timeout(2000) });
    return parseMetrics(await r.text());
  }

  /** Replaces this node's gossip faults at once (control file + SIGUSR1). */
  setFaults(spec: FaultSpec): void {
    writeFileSync(this.faultFile, JSON.stringify(spec));
    this.proc.kill("SIGUSR1");
  }

  /** Blocks the node's event loop for the blockMs it was started with (SIGUSR2). */
  block(): void {
    this.proc.kill("SIGUSR2");
  }

  /** The node's JSON log lines (info and above), optionally only those with this message. */
  logs(msg?: string): LogLine[] {
    if (!existsSync(this.logPath)) return [];
    const out: LogLine[] = [];
    for (const line of readFileSync(this.logPath, "utf8").split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        const l = JSON.parse(line) as LogLine;
        if (msg === undefined || l.msg === msg) out.push(l);
      } catch {
        // a line cut by a kill
      }
    }
    return out;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 3000);
    await this.proc.exited;
    clearTimeout(t);
  }
}

/** Log messages of the gossip engine that the scenarios count. */
export const LOG_DECLARED_DEAD = "marking node as failed, suspect timeout reached";
export const LOG_SUSPECTED = "suspect node has failed, no acks received";

export class Workdir {
  readonly dir = mkdtempSync(join(tmpdir(), "cc-netfaults-"));

  /** The node config for one host: fixed ports on its own address (the proxy on `proxyBind`), these seeds. */
  nodeConfig(host: HostSpec, seeds: string[], cfg: NodeConfig, backendHost: string, proxyBind: string): string {
    const path = join(this.dir, `${host.name}.toml`);
    const toml = labNodeToml({
      name: host.name,
      ip: host.ip,
      sharedKey: "netfaults",
      peers: seeds,
      backends: host.backends.map((_, k) => `${backendHost}:${BACKEND_PORT + k}`),
      adminAllow: ["127.0.0.0/8", "198.18.0.0/15"],
      cluster: cfg.cluster,
      proxy: { bind_address: proxyBind, workers: 1, drain_timeout: "1s", ...cfg.proxy },
      health: cfg.health,
    });
    writeFileSync(path, toml);
    return path;
  }

  /** bash -c wrapper: env for test faults, stderr (the JSON log) to a file. */
  nodeCommand(host: HostSpec, configPath: string, faults: FaultSpec): { cmd: string[]; logPath: string; faultFile: string } {
    const logPath = join(this.dir, `${host.name}.log`);
    const faultFile = join(this.dir, `${host.name}.faults.json`);
    writeFileSync(faultFile, "{}");
    const env = JSON.stringify({ ...faults, file: faultFile });
    const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
    return {
      cmd: ["bash", "-c", `exec env CLUSTERCLUB_TEST_FAULTS=${q(env)} bun ${q(FAULTY_NODE)} ${q(configPath)} --log-format json --log-level info 2>>${q(logPath)}`],
      logPath,
      faultFile,
    };
  }
}

/** Waits until every node sees exactly `expect` (name → published healthy count) alive. Returns ms taken. */
export async function converged(nodes: NodeProc[], expect: Record<string, number>, timeoutMs = 20_000): Promise<number> {
  const t0 = performance.now();
  const want = JSON.stringify(Object.keys(expect).sort());
  await until(
    async () => {
      for (const n of nodes) {
        try {
          const s = await n.status();
          const alive = s.members.filter((m) => m.state === "alive");
          if (JSON.stringify(alive.map((m) => m.name).sort()) !== want) return false;
          for (const m of alive) if (m.meta.healthy !== expect[m.name]) return false;
        } catch {
          return false;
        }
      }
      return true;
    },
    timeoutMs,
    50,
  );
  return performance.now() - t0;
}

export interface Transition {
  /** Epoch ms when the watcher saw it. */
  at: number;
  observer: string;
  member: string;
  from: string;
  to: string;
}

/** Polls every node's /status and records every member state change each one shows. */
export class MembershipWatch {
  readonly transitions: Transition[] = [];
  private readonly last = new Map<string, string>();
  private running = true;
  private readonly loop: Promise<void>;
  /** Polls that failed (node not answering its admin API in time, e.g. while blocked). */
  unanswered = 0;

  constructor(
    private readonly nodes: NodeProc[],
    everyMs = 100,
  ) {
    this.loop = (async () => {
      while (this.running) {
        await Promise.all(nodes.map((n) => this.poll(n)));
        await Bun.sleep(everyMs);
      }
    })();
  }

  private async poll(n: NodeProc): Promise<void> {
    let s: StatusView;
    try {
      s = await n.status(500);
    } catch {
      this.unanswered++;
      return;
    }
    const at = Date.now();
    for (const m of s.members) {
      const key = `${n.name}\u0000${m.name}`;
      const prev = this.last.get(key);
      if (prev !== undefined && prev !== m.state) this.transitions.push({ at, observer: n.name, member: m.name, from: prev, to: m.state });
      this.last.set(key, m.state);
    }
  }

  /** The state `observer` last showed for `member`. */
  state(observer: string, member: string): string | undefined {
    return this.last.get(`${observer}\u0000${member}`);
  }

  /** First time any observer (in `observers`, default all) showed `member` in state `to` after `since`. */
  first(member: string, to: string, since = 0, observers?: string[]): Transition | undefined {
    return this.transitions.find((t) => t.member === member && t.to === to && t.at >= since && (!observers || observers.includes(t.observer)));
  }

  count(to: string, since = 0): number {
    return this.transitions.filter((t) => t.to === to && t.at >= since).length;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** Sum of one series over nodes (missing = 0). */
export function sum(ms: Metrics[], key: string): number {
  return ms.reduce((a, m) => a + (m.get(key) ?? 0), 0);
}

export async function allMetrics(nodes: NodeProc[]): Promise<Metrics[]> {
  return Promise.all(nodes.map((n) => n.metrics()));
}

/** Gossip counters between two scrapes of every node. */
export function gossipDelta(before: Metrics[], after: Metrics[]) {
  const d = (k: string) => sum(after, k) - sum(before, k);
  return {
    probes: d("clusterclub_gossip_probes_total"),
    /** Probes that failed and raised a suspicion (each counted once, by the node that raised it). */
    suspicionsRaised: d("clusterclub_gossip_probe_failures_total"),
    refutations: d("clusterclub_gossip_refutations_total"),
    indirectPings: d('clusterclub_gossip_messages_out_total{type="indirectPing"}'),
    pushPullsFailed: d('clusterclub_gossip_pushpulls_total{outcome="failed"}'),
    metaBroadcasts: d("clusterclub_gossip_meta_broadcasts_total"),
  };
}

/** Runs the load generator (in this network namespace, or through `spawn` in another) and returns its outcome. */
export function startLoad(
  urls: string[],
  o: { rate: number; durationMs: number; timeoutMs?: number },
  spawn: (cmd: string[]) => Subprocess = (cmd) => Bun.spawn(cmd, { stdout: "pipe", stderr: "inherit", stdin: "ignore" }),
): { done: Promise<LoadOutcome>; proc: Subprocess } {
  const proc = spawn(["bun", LOADGEN, "--urls", urls.join(","), "--rate", String(o.rate), "--duration", String(o.durationMs), "--timeout", String(o.timeoutMs ?? 10_000)]);
  const done = (async () => {
    const text = await new Response(proc.stdout as ReadableStream).text();
    await proc.exited;
    try {
      return JSON.parse(text) as LoadOutcome;
    } catch {
      throw new Error(`load generator printed no result (exit ${proc.exitCode}): ${text.slice(0, 500)}`);
    }
  })();
  return { done, proc };
}

/** One line per scenario, the shape every chaos scenario prints. */
export function summary(fig: { scenario: string; load: string; faults: string; sent: number; failed: number; [k: string]: string | number }): void {
  const { scenario, load, faults, sent, failed, ...rest } = fig;
  const extra = Object.entries(rest).map(([k, v]) => `${k}=${v}`);
  console.log(`[chaos] ${scenario} | load: ${load} | faults: ${faults} | sent=${sent} failed=${failed}${extra.length ? ` | ${extra.join(" ")}` : ""}`);
}

/** Reads the next JSON line a helper prints (one at a time: the helper prints nothing in between). */
export async function nextLine(proc: Subprocess<"ignore", "pipe", "inherit">, timeoutMs: number): Promise<Record<string, unknown>> {
  const reader = proc.stdout.getReader();
  let buf = "";
  const deadline = setTimeout(() => void reader.cancel(), timeoutMs);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`helper exited before it was ready (exit ${proc.exitCode})`);
      buf += new TextDecoder().decode(value);
      const nl = buf.indexOf("\n");
      if (nl >= 0) return JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
    }
  } finally {
    clearTimeout(deadline);
    reader.releaseLock();
  }
}

export interface LoopbackCluster {
  nodes: NodeProc[];
  backends: Subprocess<"ignore", "pipe", "inherit">;
  work: Workdir;
  /** Waits for every node to see every node alive with its backend count. */
  converged(timeoutMs?: number): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts one backends process for every host's backends and one node process per host, each on its own
 * loopback address (the hosts' ips, e.g. 127.0.41.11…), joined through the first host, and waits until
 * the cluster has converged. `faults` is every node's CLUSTERCLUB_TEST_FAULTS (a control file is added).
 */
export async function startLoopbackCluster(hosts: HostSpec[], cfg: NodeConfig, o: { faults?: FaultSpec; flap?: string } = {}): Promise<LoopbackCluster> {
  const work = new Workdir();
  const args = hosts.flatMap((h) => h.backends.map((b, k) => `${h.ip}:${BACKEND_PORT + k}:${b}`));
  const backends = Bun.spawn(["bun", BACKENDS, ...args, ...(o.flap ? ["--flap", o.flap] : [])], { stdout: "pipe", stderr: "inherit", stdin: "ignore" });
  const nodes: NodeProc[] = [];
  // A test process that dies must not leave nodes holding the addresses.
  const onExit = () => {
    for (const n of nodes) n.proc.kill("SIGKILL");
    backends.kill("SIGKILL");
  };
  process.on("exit", onExit);
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    if (backends.exitCode === null) backends.kill("SIGKILL");
    await backends.exited;
    process.off("exit", onExit);
  };
  try {
    await nextLine(backends, 10_000);
    for (const h of hosts) {
      const seeds = h === hosts[0] ? [] : [`${hosts[0]!.ip}:${GOSSIP_PORT}`];
      const { cmd, logPath, faultFile } = work.nodeCommand(h, work.nodeConfig(h, seeds, cfg, h.ip, h.ip), o.faults ?? {});
      const proc = Bun.spawn(cmd, { stdout: "ignore", stderr: "inherit", stdin: "ignore" });
      nodes.push(new NodeProc(h, proc, logPath, faultFile));
    }
    const expect = Object.fromEntries(hosts.map((h) => [`node-${h.name}`, h.backends.length]));
    const c: LoopbackCluster = { nodes, backends, work, converged: (t = 30_000) => converged(nodes, expect, t), stop };
    await c.converged();
    return c;
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Second octet of this run's loopback addresses (from the pid), so two test runs on one machine (e.g. two
 * people running the suite) do not fight over the fixed ports.
 */
const RUN_OCTET = 50 + (process.pid % 200);

/** Hosts h1…hN on 127.<run>.<scenario>.11…, each with `backends[i]` backends named h<i>-b<k>. */
export function loopbackHosts(scenario: number, backends: number[]): HostSpec[] {
  return backends.map((n, i) => ({
    name: `h${i + 1}`,
    ip: `127.${RUN_OCTET}.${scenario}.${11 + i}`,
    backends: Array.from({ length: n }, (_, k) => `h${i + 1}-b${k + 1}`),
  }));
}

export interface FaultWindow {
  /** Paced load over every node's proxy while the fault lasts. */
  rate: number;
  durationMs: number;
  /** Turns the fault on (just before the load starts) and off (once it has ended). */
  inject(): void;
  heal(): void;
  /** How long the cluster may take to show everyone alive again afterwards. */
  recoverWithinMs?: number;
}

export interface FaultOutcome {
  /** Wall clock when the fault went on: count membership events from here. */
  since: number;
  load: LoadOutcome;
  /** Member states every node showed, polled every 100 ms during the run. */
  watch: MembershipWatch;
  gossip: ReturnType<typeof gossipDelta>;
  recoveryMs: number;
  /** "Declared dead" log lines: every one so far, and how many were written during this run. */
  deathLines: LogLine[];
  newDeaths: number;
}

/**
 * The network scenarios' common run: measure → fault on → load → fault off → wait until converged →
 * measure again. The test then prints report() and asserts on the outcome.
 */
export async function faultUnderLoad(c: LoopbackCluster, w: FaultWindow): Promise<FaultOutcome> {
  const deathsBefore = c.nodes.reduce((a, n) => a + n.logs(LOG_DECLARED_DEAD).length, 0);
  const before = await allMetrics(c.nodes);
  const since = Date.now();
  const watch = new MembershipWatch(c.nodes, 100);
  w.inject();
  const load = await startLoad(
    c.nodes.map((n) => n.url),
    { rate: w.rate, durationMs: w.durationMs },
  ).done;
  w.heal();
  const recoveryMs = await c.converged(w.recoverWithinMs ?? 15_000);
  await watch.stop();
  const gossip = gossipDelta(before, await allMetrics(c.nodes));
  const deathLines = c.nodes.flatMap((n) => n.logs(LOG_DECLARED_DEAD));
  return { since, load, watch, gossip, recoveryMs, deathLines, newDeaths: deathLines.length - deathsBefore };
}

/** The scenario's summary line, then the errors of any failed request. */
export function report(fig: Parameters<typeof summary>[0], load: LoadOutcome): void {
  summary(fig);
  if (load.errors.length > 0) console.log(load.errors.join("\n"));
}
