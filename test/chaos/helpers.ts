// Shared by the chaos scenarios: a node run as its own process (with raised file limits), its memory
// and descriptors measured over its whole process tree (primary + proxy workers), helper processes,
// latency quantiles, and the one summary line each scenario prints for the closing note.

import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { until } from "../helpers/node.ts";

export const ROOT = join(import.meta.dir, "../..");
export const MAIN = join(ROOT, "src/main.ts");
export const PROCS = join(import.meta.dir, "procs");

/** Open-file limit asked for the node and client processes (capped by the hard limit where it is lower). */
export const NOFILE = 65536;

/** `bash -c 'ulimit -n …; exec …'`: raises the soft limit as far as the hard limit allows, then execs. */
export function withNofile(cmd: string[], nofile = NOFILE): string[] {
  const quoted = cmd.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  return ["bash", "-c", `ulimit -n ${nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec ${quoted}`];
}

export function freePort(host = "127.0.0.1"): number {
  const s = Bun.listen({ hostname: host, port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}

/** Pids of `pid` and all its descendants (the node's proxy workers are its children). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // exited while we looked
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function fdsOf(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** The soft open-file limit a process runs with. */
export function nofileOf(pid: number): number {
  const m = /Max open files\s+(\d+)/.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
  return m ? Number(m[1]) : 0;
}

export interface TreeUsage {
  processes: number;
  rssBytes: number;
  fds: number;
  sockets: number;
}

export function treeUsage(pid: number): TreeUsage {
  const pids = processTree(pid);
  let rssBytes = 0;
  let fds = 0;
  let sockets = 0;
  for (const p of pids) {
    rssBytes += rssOf(p);
    fds += fdsOf(p);
    try {
      for (const fd of readdirSync(`/proc/${p}/fd`)) {
        try {
          if (readlinkSync(`/proc/${p}/fd/${fd}`).startsWith("socket:")) sockets++;
        } catch {}
      }
    } catch {}
  }
  return { processes: pids.length, rssBytes, fds, sockets };
}

/** Samples a process tree every `everyMs` and keeps the peaks. */
export class UsageSampler {
  peakRss = 0;
  peakFds = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  constructor(
    private readonly pid: number,
    everyMs = 200,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }
  sample(): TreeUsage {
    const u = treeUsage(this.pid);
    this.peakRss = Math.max(this.peakRss, u.rssBytes);
    this.peakFds = Math.max(this.peakFds, u.fds);
    return u;
  }
  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

export const MB = 1024 * 1024;
export const mb = (bytes: number): string => (bytes / MB).toFixed(0);

export interface NodeProcessOptions {
  backends: string[];
  /** Extra TOML lines for [proxy]. */
  proxy?: string;
  /** Extra TOML lines for [admin]. */
  admin?: string;
  health?: string;
  nofile?: number;
  bind?: string;
  name?: string;
  /** Gossip port (default: any). */
  gossipPort?: number;
  /** Extra TOML lines for [cluster], e.g. peers and fast timings. */
  cluster?: string;
  /** Wait for the proxy to answer with something other than 503 before resolving (default true). */
  waitServing?: boolean;
}

export interface NodeProcess {
  proc: Subprocess;
  pid: number;
  proxyPort: number;
  adminPort: number;
  url: string;
  adminUrl: string;
  logPath: string;
  /** The config file the node was started with (rewrite it and send SIGHUP to reload). */
  configPath: string;
  /** Restarts of proxy workers so far (0 when the node runs without workers). */
  workerRestarts(): Promise<number>;
  /** The node's log lines (JSON) at warn and above. */
  log(): string;
  stop(): Promise<number>;
}

/** Runs `bun src/main.ts <config>` as its own process, with the open-file limit raised; resolves once /health answers. */
export async function spawnNode(o: NodeProcessOptions): Promise<NodeProcess> {
  const bind = o.bind ?? "127.0.0.1";
  const proxyPort = freePort(bind);
  const adminPort = freePort(bind);
  const dir = mkdtempSync(join(tmpdir(), "cc-chaos-"));
  const cfg = join(dir, "node.toml");
  writeFileSync(
    cfg,
    `[cluster]
node_name = "${o.name ?? "chaos-node"}"
listen_port = ${o.gossipPort ?? 0}
bind_address = "${bind}"
${o.cluster ?? ""}
[proxy]
listen_port = ${proxyPort}
bind_address = "${bind}"
drain_timeout = "1s"
${o.proxy ?? ""}
[admin]
listen_port = ${adminPort}
bind_address = "${bind}"
${o.admin ?? ""}
[health]
${o.health ?? 'interval = "1s"\ntimeout = "500ms"\nrise = 1\nfall = 2'}
${o.backends.map((b) => `[[backends]]\naddress = "${b}"`).join("\n")}
`,
  );
  const logPath = join(dir, "node.log");
  const proc = Bun.spawn(withNofile(["bun", MAIN, cfg, "--log-format", "json", "--log-level", "warn"], o.nofile), {
    stdout: "ignore",
    stderr: Bun.file(logPath),
    stdin: "ignore",
  });
  const url = `http://${bind}:${proxyPort}`;
  const adminUrl = `http://${bind}:${adminPort}`;
  await until(async () => {
    if (proc.exitCode !== null) throw new Error(`node exited with ${proc.exitCode}: ${existsSync(logPath) ? readFileSync(logPath, "utf8") : ""}`);
    const h = await fetch(`${adminUrl}/health`).catch(() => null);
    if (h?.status !== 200) return false;
    if (o.waitServing === false) return true;
    // Health checks have passed once the proxy answers with something other than 503.
    const r = await fetch(`${url}/`).catch(() => null);
    await r?.arrayBuffer();
    return r !== null && r.status !== 503;
  }, 20_000, 100);
  return {
    proc,
    pid: proc.pid,
    proxyPort,
    adminPort,
    url,
    adminUrl,
    logPath,
    configPath: cfg,
    async workerRestarts() {
      const s = (await (await fetch(`${adminUrl}/status`)).json()) as { workers?: { restarts: number }[] | null };
      return (s.workers ?? []).reduce((a, w) => a + w.restarts, 0);
    },
    log: () => (existsSync(logPath) ? readFileSync(logPath, "utf8") : ""),
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
      const code = await proc.exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** A helper process speaking JSON lines on stdout; `next()` waits for the next one. */
export class JsonLines<T = Record<string, unknown>> {
  private buf = "";
  private readonly queue: T[] = [];
  private waiter: ((v: T) => void) | undefined;
  private done = false;
  readonly stderr: Promise<string>;

  constructor(readonly proc: Subprocess<"pipe", "pipe", "pipe">) {
    void this.pump();
    this.stderr = new Response(proc.stderr).text();
  }

  private async pump(): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of this.proc.stdout) {
      this.buf += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = this.buf.indexOf("\n")) >= 0) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (line === "") continue;
        const v = JSON.parse(line) as T;
        if (this.waiter) {
          const w = this.waiter;
          this.waiter = undefined;
          w(v);
        } else this.queue.push(v);
      }
    }
    this.done = true;
  }

  async next(timeoutMs: number): Promise<T> {
    const q = this.queue.shift();
    if (q !== undefined) return q;
    if (this.done) throw new Error(`helper exited: ${await this.stderr}`);
    return await new Promise<T>((resolve, reject) => {
      const t = setTimeout(async () => {
        this.waiter = undefined;
        reject(new Error(`no line from helper within ${timeoutMs}ms (exit ${this.proc.exitCode}); stderr: ${(await Promise.race([this.stderr, Bun.sleep(100).then(() => "")])).slice(0, 2000)}`));
      }, timeoutMs);
      this.waiter = (v) => {
        clearTimeout(t);
        resolve(v);
      };
    });
  }

  send(line: string): void {
    this.proc.stdin.write(`${line}\n`);
    this.proc.stdin.flush();
  }
}

/** Starts one of test/chaos/procs/*.ts as its own process (file limit raised), talking JSON lines. */
export function spawnProc<T = Record<string, unknown>>(script: string, args: string[]): JsonLines<T> {
  const proc = Bun.spawn(withNofile(["bun", join(PROCS, script), ...args]), { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  return new JsonLines<T>(proc);
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** One line per scenario, the same shape everywhere, so the closing note can quote them. */
export function summary(fig: {
  scenario: string;
  load: string;
  faults: string;
  sent: number;
  failed: number;
  [k: string]: string | number;
}): void {
  const { scenario, load, faults, sent, failed, ...rest } = fig;
  const extra = Object.entries(rest).map(([k, v]) => `${k}=${v}`);
  console.log(`[chaos] ${scenario} | load: ${load} | faults: ${faults} | sent=${sent} failed=${failed}${extra.length ? ` | ${extra.join(" ")}` : ""}`);
}
