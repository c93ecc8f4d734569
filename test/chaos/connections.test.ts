// 10,000 concurrent keep-alive client connections (one request each, then idle) plus a steady load of
// normal requests, against a node running as its own process: every request is served, idle
// connections stay usable, memory and descriptors are reported and given back afterwards.
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";
import { until } from "../helpers/node.ts";
import { requirePrerequisite } from "../helpers/prereq.ts";
import { PROCS, mb, type NodeProcess, nofileOf, spawnProc, spawnNode, summary, treeUsage, UsageSampler, withNofile } from "./helpers.ts";

const CLIENTS_N = 10_000;
const STEADY_MS = 4000;
const STEADY_RATE = 200;
/** Budget of the node's RSS growth per idle keep-alive connection (Bun's socket and HTTP state; README). */
const RSS_PER_CONN_MAX = 12 * 1024;
/**
 * Descriptors the node may hold beyond its idle baseline: one per client connection, plus the steady
 * clients' connections and their pooled upstream ones (at most 64 in flight each way), plus 10 % headroom.
 */
const FDS_OVER_BASE_MAX = Math.round(CLIENTS_N * 1.1) + 2 * 64;

/** The client process alone needs one descriptor per connection; a lower hard limit cannot be raised here. */
const HARD_NOFILE = Number(spawnSync("bash", ["-c", "ulimit -Hn"], { encoding: "utf8" }).stdout.trim().replace("unlimited", "1048576"));
const cannotRun = requirePrerequisite(
  "10k-connection test",
  HARD_NOFILE >= CLIENTS_N + 2000 ? undefined : `hard open-file limit ${HARD_NOFILE} < ${CLIENTS_N + 2000}`,
  "raise it, e.g. LimitNOFILE=65536 / --ulimit nofile=65536:65536",
);

let backend: BackendHandle;
let node: NodeProcess;

beforeAll(async () => {
  if (cannotRun) return;
  backend = startBackend({ name: "steady" });
  node = await spawnNode({ backends: [`127.0.0.1:${backend.port}`], proxy: 'idle_timeout = "120s"' });
});

afterAll(async () => {
  await node?.stop();
  await backend?.stop();
});

interface Ready {
  event: string;
  ms: number;
  opened: number;
  open: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
}

interface Steady {
  sent: number;
  ok: number;
  failed: number;
  skipped: number;
  statuses: Record<string, number>;
  errors: string[];
  p50: number;
  p99: number;
}

test.skipIf(cannotRun)(`${CLIENTS_N} idle keep-alive clients plus steady load: all served, no descriptor exhaustion`, async () => {
  const before = treeUsage(node.pid);
  const limit = nofileOf(node.pid);
  const sampler = new UsageSampler(node.pid, 250);
  const idle = spawnProc<Ready & { asked?: number; closedByPeer?: number }>("idle.ts", ["127.0.0.1", String(node.proxyPort), String(CLIENTS_N), "/"]);
  try {
    const ready = await idle.next(90_000);
    expect(ready.errors).toEqual({});
    expect(ready.statuses).toEqual({ "200": CLIENTS_N });
    expect(ready.open).toBe(CLIENTS_N);
    const held = sampler.sample();

    // Normal clients while the 10k sit idle on their connections.
    const steadyProc = Bun.spawn(withNofile(["bun", `${PROCS}/steady.ts`, `${node.url}/`, String(STEADY_MS), String(STEADY_RATE)]), {
      stdout: "pipe",
      stderr: "inherit",
    });
    const steady = JSON.parse(await new Response(steadyProc.stdout).text()) as Steady;
    expect(steady.failed).toBe(0);
    expect(steady.ok).toBe(steady.sent);

    // Every idle connection is still open and still served.
    idle.send("again");
    const again = await idle.next(90_000);
    expect(again.statuses).toEqual({ "200": CLIENTS_N });
    idle.send("check");
    const check = await idle.next(10_000);
    expect(check.open).toBe(CLIENTS_N);
    expect(check.closedByPeer).toBe(0);

    const peakBeforeClose = sampler.sample();
    idle.send("exit");
    await idle.proc.exited;
    // Descriptors come back once the clients are gone (no leak per connection).
    await until(() => treeUsage(node.pid).fds < before.fds + 200, 15_000, 200);
    sampler.stop();
    const after = treeUsage(node.pid);

    expect(node.proc.exitCode).toBeNull();
    expect(await node.workerRestarts()).toBe(0);
    expect(node.log()).not.toMatch(/EMFILE|ENFILE|too many open files/i);
    expect(held.sockets).toBeGreaterThanOrEqual(CLIENTS_N);
    expect(sampler.peakFds).toBeLessThan(limit * held.processes);
    const rssPerConn = (peakBeforeClose.rssBytes - before.rssBytes) / CLIENTS_N;

    summary({
      scenario: "10k idle keep-alive connections + steady load",
      load: `${CLIENTS_N} conns (1 req each, then idle, then 1 more each) + ${STEADY_RATE} req/s for ${STEADY_MS / 1000}s`,
      faults: "none (capacity)",
      sent: CLIENTS_N * 2 + steady.sent,
      failed: steady.failed + CLIENTS_N * 2 - (ready.statuses["200"] ?? 0) - (again.statuses["200"] ?? 0),
      connect_ms: ready.ms,
      steady_skipped: steady.skipped,
      steady_p50_ms: steady.p50,
      steady_p99_ms: steady.p99,
      node_procs: held.processes,
      rss_idle_mb: mb(before.rssBytes),
      rss_10k_mb: mb(peakBeforeClose.rssBytes),
      rss_peak_mb: mb(sampler.peakRss),
      rss_per_conn_kb: (rssPerConn / 1024).toFixed(1),
      rss_per_conn_max_kb: RSS_PER_CONN_MAX / 1024,
      fds_before: before.fds,
      fds_peak: sampler.peakFds,
      fds_over_base_max: FDS_OVER_BASE_MAX,
      fds_after: after.fds,
      nofile_limit: limit,
    });
    // The figures the README quotes: descriptors about one per connection, bounded memory per connection.
    expect(sampler.peakFds - before.fds).toBeLessThanOrEqual(FDS_OVER_BASE_MAX);
    expect(rssPerConn).toBeLessThanOrEqual(RSS_PER_CONN_MAX);
  } finally {
    idle.proc.kill("SIGKILL");
    sampler.stop();
  }
}, 150_000);
