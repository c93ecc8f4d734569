// Cluster-wide balancing on real hosts: one network namespace per host (node + its backends),
// a client namespace, addresses in a /24 of 198.18.0.0/15. Node and backends are real processes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LAB_PORTS, labNodeToml } from "../../helpers/labnode.ts";
import { until } from "../../helpers/node.ts";
import { type Host, Lab, labAvailable } from "./lab.ts";
import { requirePrerequisite } from "../../helpers/prereq.ts";

const ROOT = join(import.meta.dir, "../../..");
const MAIN = join(ROOT, "src/main.ts");
const BACKEND = join(ROOT, "test/fixtures/backend.ts");
const LOADGEN = join(import.meta.dir, "loadgen.ts");
const { proxy: PROXY_PORT, admin: ADMIN_PORT, gossip: GOSSIP_PORT } = LAB_PORTS;
const COUNTS = [1, 2, 3];
const HEALTH_INTERVAL_MS = 500;

const avail = labAvailable();
const noLab = requirePrerequisite("multi-host cluster tests (the loopback variant in test/cluster/balancing.test.ts still runs)", avail.ok ? undefined : avail.why);

interface LoadResult {
  sent: number;
  ok: number;
  failed: number;
  statuses: Record<string, number>;
  byBackend: Record<string, number>;
  hops: Record<string, number>;
  errors: string[];
  timeline: [number, string][];
}

interface MemberStatus {
  name: string;
  state: string;
  weight: number;
  meta: { healthy?: number };
}

describe.skipIf(noLab)("multi-host cluster (network namespaces)", () => {
  let lab: Lab;
  const dir = mkdtempSync(join(tmpdir(), "cc-mh-"));
  const nodeProcs = new Map<string, ReturnType<Lab["spawn"]>>();
  const backendProcs = new Map<string, ReturnType<Lab["spawn"]>[]>();

  function configFor(i: number, host: Host): string {
    const path = join(dir, `${host.name}.toml`);
    const peers = i === 0 ? [] : [`${lab.hosts[0]!.ip}:${GOSSIP_PORT}`];
    writeFileSync(
      path,
      labNodeToml({
        name: host.name,
        ip: host.ip,
        sharedKey: "multi-host-test",
        peers,
        backends: Array.from({ length: COUNTS[i]! }, (_, k) => `127.0.0.1:${3001 + k}`),
        // The test reads every node's admin API from the lab's controller address.
        adminAllow: [`${lab.controllerIp}/32`],
        proxy: { drain_timeout: "5s" },
        health: { interval: `${HEALTH_INTERVAL_MS}ms` },
      }),
    );
    return path;
  }

  function startNodeOn(i: number) {
    const host = lab.hosts[i]!;
    const p = lab.spawn(host, ["bun", MAIN, configFor(i, host), "--log-format", "json", "--log-level", "warn"]);
    nodeProcs.set(host.name, p);
    return p;
  }

  async function status(host: Host): Promise<{ members: MemberStatus[]; healthy_backends: number }> {
    const r = await fetch(`http://${host.ip}:${ADMIN_PORT}/status`, { signal: AbortSignal.timeout(2000) });
    return (await r.json()) as { members: MemberStatus[]; healthy_backends: number };
  }

  async function load(from: Host, target: Host, args: string[]): Promise<LoadResult> {
    const p = lab.spawn(from, ["bun", LOADGEN, `http://${target.ip}:${PROXY_PORT}/`, ...args], { stdout: "pipe" });
    const out = await new Response(p.stdout as ReadableStream).text();
    await p.exited;
    return JSON.parse(out) as LoadResult;
  }

  async function converged(expect: Record<string, number>): Promise<void> {
    await until(async () => {
      for (const h of lab.hosts) {
        if (!nodeProcs.has(h.name)) continue;
        try {
          const s = await status(h);
          const alive = Object.fromEntries(s.members.filter((m) => m.state === "alive").map((m) => [m.name, m.meta.healthy]));
          if (JSON.stringify(Object.keys(alive).sort()) !== JSON.stringify(Object.keys(expect).sort())) return false;
          for (const [n, c] of Object.entries(expect)) if (alive[n] !== c) return false;
        } catch {
          return false;
        }
      }
      return true;
    }, 30_000, 100);
  }

  beforeAll(async () => {
    lab = Lab.create(3);
    lab.hosts.forEach((h, i) => {
      backendProcs.set(
        h.name,
        Array.from({ length: COUNTS[i]! }, (_, k) => lab.spawn(h, ["bun", BACKEND, String(3001 + k), `${h.name}-b${k + 1}`, "127.0.0.1"])),
      );
    });
    for (let i = 0; i < 3; i++) startNodeOn(i);
    await converged({ "node-h1": 1, "node-h2": 2, "node-h3": 3 });
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  test("600 requests to any node spread over the 6 backends equally; no request takes two hops", async () => {
    const table: string[] = [];
    for (const entry of lab.hosts) {
      const r = await load(lab.client, entry, ["--count", "600", "--concurrency", "4"]);
      expect(r.failed).toBe(0);
      expect(Object.keys(r.byBackend).length).toBe(6);
      for (const [b, n] of Object.entries(r.byBackend)) {
        table.push(`${entry.name} → ${b}: ${n}`);
        expect(n).toBeGreaterThanOrEqual(90);
        expect(n).toBeLessThanOrEqual(110);
      }
      // Via at the backend: 1 entry = served by the entry node, 2 = one hop; never 3.
      expect(Object.keys(r.hops).map(Number).sort()).toEqual([1, 2]);
    }
    console.log(`distribution (entry node → backend: requests of 600)\n  ${table.join("\n  ")}`);
  }, 60_000);

  test("a request from a member's IP is served locally only", async () => {
    const r = await load(lab.hosts[1]!, lab.hosts[0]!, ["--count", "60", "--concurrency", "2"]);
    expect(r.failed).toBe(0);
    expect(Object.keys(r.byBackend)).toEqual(["h1-b1"]);
  }, 30_000);

  test("stopping 2 backends on one host: the shares follow within health interval + 2 s", async () => {
    const h3 = lab.hosts[2]!;
    const procs = backendProcs.get(h3.name)!;
    const t0 = performance.now();
    procs[1]!.kill("SIGKILL");
    procs[2]!.kill("SIGKILL");
    await converged({ "node-h1": 1, "node-h2": 2, "node-h3": 1 });
    const took = performance.now() - t0;
    console.log(`shares updated ${took.toFixed(0)} ms after 2 backends on h3 stopped`);
    expect(took).toBeLessThan(HEALTH_INTERVAL_MS + 2000);
    const r = await load(lab.client, lab.hosts[0]!, ["--count", "400", "--concurrency", "4"]);
    expect(r.failed).toBe(0);
    const byHost = (h: string) => Object.entries(r.byBackend).filter(([b]) => b.startsWith(h)).reduce((a, [, n]) => a + n, 0);
    // Weights 1:2:1 (each worker process keeps its own smooth-WRR cycle, so allow ±10%).
    for (const [h, share] of [["h1", 100], ["h2", 200], ["h3", 100]] as const) {
      expect(byHost(h)).toBeGreaterThanOrEqual(share * 0.9);
      expect(byHost(h)).toBeLessThanOrEqual(share * 1.1);
    }
    // Restore for the next scenarios.
    procs[1] = lab.spawn(h3, ["bun", BACKEND, "3002", "h3-b2", "127.0.0.1"]);
    procs[2] = lab.spawn(h3, ["bun", BACKEND, "3003", "h3-b3", "127.0.0.1"]);
    await converged({ "node-h1": 1, "node-h2": 2, "node-h3": 3 });
  }, 60_000);

  test("SIGKILL of a whole node under steady load: no failed request; it rejoins with its share", async () => {
    const h3 = lab.hosts[2]!;
    const loadP = load(lab.client, lab.hosts[0]!, ["--duration", "6000", "--concurrency", "4"]);
    await Bun.sleep(1000);
    const killedAt = performance.now();
    nodeProcs.get(h3.name)!.kill("SIGKILL");
    nodeProcs.delete(h3.name);
    await until(async () => (await status(lab.hosts[0]!)).members.find((m) => m.name === "node-h3")?.state === "dead", 15_000, 50);
    const detectMs = performance.now() - killedAt;
    const r = await loadP;
    console.log(`SIGKILL h3: detected dead by h1 after ${detectMs.toFixed(0)} ms; ${r.sent} requests, ${r.failed} failed`);
    expect(r.failed).toBe(0);
    // After detection plus a margin, h3's backends got nothing.
    const after = r.timeline.filter(([t, b]) => t > 1000 + detectMs + 500 && b.startsWith("h3-"));
    expect(after.length).toBe(0);
    // Restart with the same name: it rejoins and gets its share again.
    startNodeOn(2);
    await converged({ "node-h1": 1, "node-h2": 2, "node-h3": 3 });
    const again = await load(lab.client, lab.hosts[0]!, ["--count", "600", "--concurrency", "4"]);
    expect(again.failed).toBe(0);
    const h3share = Object.entries(again.byBackend).filter(([b]) => b.startsWith("h3-")).reduce((a, [, n]) => a + n, 0);
    expect(h3share).toBeGreaterThanOrEqual(270);
    expect(h3share).toBeLessThanOrEqual(330);
  }, 90_000);

  test("SIGTERM: the node leaves (peers see left at once), finishes in-flight requests, exits 0", async () => {
    const h2 = lab.hosts[1]!;
    const proc = nodeProcs.get(h2.name)!;
    // A slow request in flight on h2; its Via names a member, so h2 serves it from its own backends.
    const slowP = lab.spawn(lab.client, ["bun", "-e", `const r = await fetch("http://${h2.ip}:${PROXY_PORT}/slow/1500", { headers: { via: "1.1 node-h1" } }); console.log(r.status, await r.text())`], {
      stdout: "pipe",
    });
    // the slow request is in flight on h2 before the signal (no fixed sleep)
    const inFlight = async () => Number(/^clusterclub_requests_in_flight (\d+)$/m.exec(await (await fetch(`http://${h2.ip}:${ADMIN_PORT}/metrics`)).text())?.[1] ?? 0);
    await until(async () => (await inFlight()) > 0, 5000, 20);
    const t0 = performance.now();
    proc.kill("SIGTERM");
    // "At once" in protocol terms: h1 learns it from h2's own leave message, so the first state other than
    // alive it shows is "left" (never suspect or dead: not failure detection), and it shows it while h2 is
    // still draining its in-flight request, i.e. before h2 exits.
    const seen: string[] = [];
    let exitedBeforeLeft = false;
    await until(
      async () => {
        const st = (await status(lab.hosts[0]!)).members.find((m) => m.name === "node-h2")?.state ?? "gone";
        if (st !== "alive" && seen.at(-1) !== st) seen.push(st);
        if (st === "left") exitedBeforeLeft = proc.exitCode !== null;
        return st === "left";
      },
      5000,
      20,
    );
    const leftMs = performance.now() - t0;
    const slowOut = await new Response(slowP.stdout as ReadableStream).text();
    expect(slowOut).toStartWith("200 slow 1500ms");
    expect(await proc.exited).toBe(0);
    nodeProcs.delete(h2.name);
    console.log(`SIGTERM h2: peers saw left after ${leftMs.toFixed(0)} ms; in-flight request completed`);
    expect(seen).toEqual(["left"]);
    expect(exitedBeforeLeft).toBe(false);
  }, 30_000);
});
