// A lab of hosts for multi-host tests: one network namespace per host on a Linux bridge, veth pairs,
// addresses from 198.18.0.0/15 (the benchmarking range). The test process sits on the bridge as
// 198.18.0.1 (the controller: admin APIs), a client namespace sends the traffic. Everything is torn
// down by destroy(), also on failure and on process exit; stale labs from a crashed run are removed first.

import { spawnSync } from "node:child_process";

export const SUBNET = "198.18.0";
export const CONTROLLER_IP = `${SUBNET}.1`;
const PREFIX = "ccl";

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
  private readonly bridge: string;
  private readonly procs = new Set<ReturnType<typeof Bun.spawn>>();
  private destroyed = false;
  private readonly onExit = () => this.destroySync();

  private constructor(hostCount: number) {
    Lab.cleanupStale();
    this.bridge = `${PREFIX}br0`;
    sh(["ip", "link", "add", this.bridge, "type", "bridge"]);
    sh(["ip", "addr", "add", `${CONTROLLER_IP}/24`, "dev", this.bridge]);
    sh(["ip", "link", "set", this.bridge, "up"]);
    for (let i = 0; i < hostCount; i++) this.hosts.push(this.addHost(`h${i + 1}`, `${SUBNET}.${11 + i}`));
    this.client = this.addHost("client", `${SUBNET}.200`);
    process.on("exit", this.onExit);
  }

  static create(hostCount: number): Lab {
    return new Lab(hostCount);
  }

  /** Removes namespaces and links left by a crashed earlier run. */
  static cleanupStale(): void {
    for (const line of sh(["ip", "netns", "list"], true).split("\n")) {
      const ns = line.split(" ")[0];
      if (ns?.startsWith(`${PREFIX}-`)) {
        for (const pid of sh(["ip", "netns", "pids", ns], true).split(/\s+/).filter(Boolean)) {
          try {
            process.kill(Number(pid), "SIGKILL");
          } catch {}
        }
        sh(["ip", "netns", "del", ns], true);
      }
    }
    sh(["ip", "link", "del", `${PREFIX}br0`], true);
  }

  private addHost(name: string, ip: string): Host {
    const ns = `${PREFIX}-${name}`;
    const outer = `${PREFIX}v${name}`;
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
    sh(["ip", "link", "set", `${PREFIX}v${host.name}`, up ? "up" : "down"]);
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
      sh(["ip", "link", "del", `${PREFIX}v${h.name}`], true);
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
