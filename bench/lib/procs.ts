// Child processes of the benchmark and what /proc says about them.
// Every pid we start is appended to $BENCH_TMP/pids so bench/run.sh's trap can end them even if Bun dies.

import { appendFileSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import type { Subprocess } from "bun";

export class BenchError extends Error {
  constructor(
    readonly target: string,
    message: string,
  ) {
    super(`${target}: ${message}`);
    this.name = "BenchError";
  }
}

export interface Child {
  name: string;
  proc: Subprocess;
  log: string;
}

export class Children {
  private readonly list: Child[] = [];
  constructor(
    readonly dir: string,
    private readonly pidFile: string | undefined,
  ) {}

  spawn(name: string, cmd: string[], env?: Record<string, string>): Child {
    const log = `${this.dir}/${name}.log`;
    const proc = Bun.spawn(cmd, {
      stdin: "ignore",
      stdout: Bun.file(log),
      stderr: Bun.file(`${log}.err`),
      env: { ...process.env, ...env },
    });
    if (this.pidFile) appendFileSync(this.pidFile, `${proc.pid}\n`);
    const child = { name, proc, log };
    this.list.push(child);
    return child;
  }

  /** Last lines of a child's stdout+stderr, for error messages. */
  tail(child: Child, lines = 15): string {
    const read = (p: string): string => {
      try {
        return readFileSync(p, "utf8");
      } catch {
        return "";
      }
    };
    return (read(child.log) + read(`${child.log}.err`)).trimEnd().split("\n").slice(-lines).join("\n");
  }

  /** SIGTERM everything we started (newest first), then SIGKILL what is still alive after a grace period. */
  async stopAll(graceMs = 3000): Promise<void> {
    const alive = this.list.filter((c) => c.proc.exitCode === null && c.proc.signalCode === null).reverse();
    for (const c of alive) c.proc.kill("SIGTERM");
    const deadline = Bun.sleep(graceMs).then(() => "timeout" as const);
    for (const c of alive) {
      if ((await Promise.race([c.proc.exited, deadline])) === "timeout") {
        c.proc.kill("SIGKILL");
        await c.proc.exited;
      }
    }
    this.list.length = 0;
    // All confirmed gone: forget the pids so the shell trap cannot hit a recycled one.
    if (this.pidFile) writeFileSync(this.pidFile, "");
  }

  /** Synchronous last resort (process exit handlers cannot await). */
  killAllNow(): void {
    for (const c of this.list) {
      if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
    }
  }
}

function statFields(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm may contain spaces and parentheses: fields start after the last ')'.
    return s.slice(s.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** pid and all its descendants (scan of /proc: works without CONFIG_PROC_CHILDREN). */
export function processTree(root: number): number[] {
  const parent = new Map<number, number[]>();
  for (const d of readdirSync("/proc")) {
    const pid = Number(d);
    if (!Number.isInteger(pid)) continue;
    const f = statFields(pid);
    if (f === null) continue;
    const ppid = Number(f[1]); // field 4 of stat
    const kids = parent.get(ppid);
    if (kids) kids.push(pid);
    else parent.set(ppid, [pid]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    out.push(p);
    for (const k of parent.get(p) ?? []) stack.push(k);
  }
  return out;
}

const CLK_TCK = (() => {
  const r = Bun.spawnSync(["getconf", "CLK_TCK"]);
  const n = Number(r.stdout.toString().trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** CPU time in µs of these processes, all threads, including reaped children (utime+stime+cutime+cstime). */
export function cpuMicros(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    if (f === null) continue;
    // stat fields 14-17 → indexes 11-14 after the comm split
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return (ticks / CLK_TCK) * 1e6;
}

/** Resident set size in bytes, summed over the processes. */
export function rssBytes(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      if (m) kb += Number(m[1]);
    } catch {
      // process gone
    }
  }
  return kb * 1024;
}

/** Samples the peak RSS of these processes (tree resolved by the caller, once per run) until stopped. */
export function rssSampler(pids: number[], everyMs = 250): { stop(): number } {
  let peak = rssBytes(pids);
  const t = setInterval(() => {
    peak = Math.max(peak, rssBytes(pids));
  }, everyMs);
  return {
    stop(): number {
      clearInterval(t);
      return Math.max(peak, rssBytes(pids));
    },
  };
}
