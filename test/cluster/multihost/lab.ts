// A lab of hosts for multi-host tests: one network namespace per host on a Linux bridge, veth pairs,
// addresses from 198.18.0.0/15 (the benchmarking range). The test process sits on the bridge as
// <subnet>.1 (the controller: admin APIs), a client namespace sends the traffic. Everything is torn
// down by destroy(), also on failure and on process exit.
// Several labs may exist at once (test files run by different processes): each is named after its
// process id and gets its own /24, and only labs whose process is gone are cleaned up as stale.

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const PREFIX = "ccl";
/** Base-36 pid: at most 5 characters, so "ccl<id>_<host>" fits the 15-character interface name limit. */
const LAB_ID = process.pid.toString(36);

function sh(args: string[], allowFail = false): string {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });
  if (r.status !== 0 && !allowFail) throw new Error(`${args.join(" ")} failed: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** Whether this machine lets us build a lab (root, iproute2, netns, veth, bridge). */
export function labAvailable(): { ok: true } | { ok: false; why: string } {
  if (process.platform !== "linux") return { ok: false, why: "not Linux" };
  if (process.getuid?.() !== 0) return { ok: false, why: "not root (network namespaces need CAP_NET_ADMIN)" };
  const probe = `${PREFIX}probe${process.pid % 10000}`;
  const r = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8" });
  if (r.error || r.status !== 0) return { ok: false, why: `ip netns add failed: ${r.error?.message ?? r.stderr}` };
  spawnSync("ip", ["netns", "del", probe]);
  const b = spawnSync("ip", ["link", "add", `${probe}b`, "type", "bridge"], { encoding: "utf8" });
  if (b.status !== 0) return { ok: false, why: `cannot create a bridge: ${b.stderr}` };
  spawnSync("ip", ["link", "del", `${probe}b`]);
  return { ok: true };
}

export interface Host {
  name: string;
  ns: string;
  ip: string;
}

export class Lab {
  readonly hosts: Host[] = [];
  readonly client: Host;
  /** First three octets of this lab's /24, e.g. "198.18.37". */
  readonly subnet: string;
  /** The test process's address on the lab bridge. */
  readonly controllerIp: string;
  private readonly bridge: string;
  private readonly prefix: string;
  private readonly procs = new Set<ReturnType<typeof Bun.spawn>>();
  private destroyed = false;
  private readonly onExit = () => this.destroySync();

  private constructor(hostCount: number) {
    Lab.cleanupStale();
    this.prefix = `${PREFIX}${LAB_ID}`;
    // 198.18.1.0/24 … 198.19.255.0/24: one /24 per lab, picked from the pid.
    const k = 1 + (process.pid % 510);
    this.subnet = `198.${18 + (k >> 8)}.${k & 255}`;
    this.controllerIp = `${this.subnet}.1`;
    this.bridge = `${this.prefix}_br`;
    sh(["ip", "link", "add", this.bridge, "type", "bridge"]);
    sh(["ip", "addr", "add", `${this.controllerIp}/24`, "dev", this.bridge]);
    sh(["ip", "link", "set", this.bridge, "up"]);
    for (let i = 0; i < hostCount; i++) this.hosts.push(this.addHost(`h${i + 1}`, `${this.subnet}.${11 + i}`));
    this.client = this.addHost("client", `${this.subnet}.200`);
    process.on("exit", this.onExit);
  }

  static create(hostCount: number): Lab {
    return new Lab(hostCount);
  }

  /** Removes namespaces and links left by crashed runs (labs whose process no longer exists). */
  static cleanupStale(): void {
    const stale = (name: string): boolean => {
      const m = new RegExp(`^${PREFIX}([0-9a-z]+)_`).exec(name);
      return m !== null && !existsSync(`/proc/${Number.parseInt(m[1]!, 36)}`);
    };
    for (const line of sh(["ip", "netns", "list"], true).split("\n")) {
      const ns = line.split(" ")[0];
      if (ns && stale(ns)) {
        for (const pid of sh(["ip", "netns", "pids", ns], true).split(/\s+/).filter(Boolean)) {
          try {
            process.kill(Number(pid), "SIGKILL");
          } catch {}
        }
        sh(["ip", "netns", "del", ns], true);
      }
    }
    for (const line of sh(["ip", "-o", "link", "show"], true).split("\n")) {
      const name = /^\d+: ([^:@]+)/.exec(line)?.[1];
      if (name && stale(name)) sh(["ip", "link", "del", name], true);
    }
  }

  private addHost(name: string, ip: string): Host {
    // The namespace and the bridge side of its veth share one name (different namespaces of names).
    const ns = `${this.prefix}_${name}`;
    const outer = ns;
    sh(["ip", "netns", "add", ns]);
    sh(["ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", ns]);
    sh(["ip", "link", "set", outer, "master", this.bridge]);
    sh(["ip", "link", "set", outer, "up"]);
    sh(["ip", "netns", "exec", ns, "ip", "addr", "add", `${ip}/24`, "dev", "eth0"]);
    sh(["ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up"]);
    sh(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
    return { name, ns, ip };
  }

  /** Detaches a host from the bridge (a partition) or re-attaches it. */
  setLink(host: Host, up: boolean): void {
    sh(["ip", "link", "set", host.ns, up ? "up" : "down"]);
  }

  /** Runs a command inside a host's namespace; killed on destroy(). */
  spawn(host: Host, cmd: string[], opts: { stdout?: "pipe" | "inherit" | "ignore"; stderr?: "pipe" | "inherit" | "ignore" } = {}) {
    const p = Bun.spawn(["ip", "netns", "exec", host.ns, ...cmd], {
      stdout: opts.stdout ?? "ignore",
      stderr: opts.stderr ?? "inherit",
      stdin: "ignore",
    });
    this.procs.add(p);
    void p.exited.then(() => this.procs.delete(p));
    return p;
  }

  private destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.procs) p.kill("SIGKILL");
    for (const h of [...this.hosts, this.client]) {
      for (const pid of sh(["ip", "netns", "pids", h.ns], true).split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {}
      }
      sh(["ip", "netns", "del", h.ns], true);
      sh(["ip", "link", "del", h.ns], true);
    }
    sh(["ip", "link", "del", this.bridge], true);
    process.off("exit", this.onExit);
  }

  async destroy(): Promise<void> {
    const exits = [...this.procs].map((p) => {
      p.kill("SIGKILL");
      return p.exited;
    });
    await Promise.all(exits);
    this.destroySync();
  }
}
