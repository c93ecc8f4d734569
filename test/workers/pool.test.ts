// Proxy workers: a node process with workers = 2 serves from both, routes from the primary's
// snapshots, reports passive failures and counters to the primary, and restarts a worker that dies.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";
import { freePort, until } from "../helpers/node.ts";

const MAIN = join(import.meta.dir, "../../src/main.ts");

/**
 * TCP connections process `pid` holds to any of `ports` on 127.0.0.1 (its sockets' inodes, matched in
 * /proc/net/tcp). A worker keeps its upstream keep-alive connections pooled, so a worker that served
 * requests still holds one to a backend afterwards.
 */
function connectionsTo(pid: number, ports: number[]): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const want = new Set(ports.map((p) => `0100007F:${p.toString(16).toUpperCase().padStart(4, "0")}`));
  let n = 0;
  for (const line of readFileSync(`/proc/${pid}/net/tcp`, "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local rem st ... inode (field 9); state 01 = ESTABLISHED
    if (f.length > 9 && want.has(f[2]!) && f[3] === "01" && inodes.has(f[9]!)) n++;
  }
  return n;
}

interface Status {
  healthy_backends: number;
  workers: { id: number; pid: number | null; restarts: number }[] | null;
  backends: { address: string; status: string }[];
}

describe("proxy workers", () => {
  let a: BackendHandle;
  let b: BackendHandle;
  let proc: ReturnType<typeof Bun.spawn>;
  let proxyUrl: string;
  let adminUrl: string;
  const status = async () => (await (await fetch(`${adminUrl}/status`)).json()) as Status;

  beforeAll(async () => {
    a = startBackend({ name: "a" });
    b = startBackend({ name: "b" });
    const proxyPort = freePort();
    const adminPort = freePort();
    const cfg = join(mkdtempSync(join(tmpdir(), "cc-workers-")), "c.toml");
    writeFileSync(
      cfg,
      `[cluster]\nlisten_port = 0\nbind_address = "127.0.0.1"\n[proxy]\nlisten_port = ${proxyPort}\nbind_address = "127.0.0.1"\nworkers = 2\n[admin]\nlisten_port = ${adminPort}\n[health]\ninterval = "30s"\n[[backends]]\naddress = "127.0.0.1:${a.port}"\n[[backends]]\naddress = "127.0.0.1:${b.port}"\n`,
    );
    proc = Bun.spawn(["bun", MAIN, cfg, "--log-level", "warn"], { stdout: "ignore", stderr: "inherit" });
    proxyUrl = `http://127.0.0.1:${proxyPort}`;
    adminUrl = `http://127.0.0.1:${adminPort}`;
    await until(async () => (await fetch(`${adminUrl}/health`).catch(() => null))?.ok === true, 15_000);
  });

  afterAll(async () => {
    proc.kill("SIGTERM");
    await proc.exited;
    await a.stop();
    await b.stop();
  });

  test("two worker processes serve the port; their counters add up in the primary's /metrics", async () => {
    const s = await status();
    expect(s.workers?.length).toBe(2);
    expect(s.workers!.every((w) => typeof w.pid === "number" && w.pid !== proc.pid)).toBe(true);
    // Fresh connections (no keep-alive) are spread over both listeners by the kernel.
    const N = 200;
    await Promise.all(
      Array.from({ length: N }, async () => {
        const r = await fetch(`${proxyUrl}/`, { headers: { connection: "close" } });
        expect(r.status).toBe(200);
        await r.text();
      }),
    );
    await until(async () => {
      const m = await (await fetch(`${adminUrl}/metrics`)).text();
      const total = [...m.matchAll(/^clusterclub_requests_total\{[^}]*class="2xx"\} (\d+)$/gm)].reduce((x, k) => x + Number(k[1]), 0);
      return total === N;
    }, 5000);
    expect(a.total + b.total).toBe(N);
    // Both workers served: each holds pooled upstream connections to the backends.
    const perWorker = s.workers!.map((w) => connectionsTo(w.pid!, [a.port, b.port]));
    expect(perWorker.every((n) => n > 0)).toBe(true);
  });

  test("a passive failure seen by a worker marks the backend down in the primary, and every worker stops using it", async () => {
    await a.stop();
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${proxyUrl}/`, { headers: { connection: "close" } });
      expect(r.status).toBe(200);
      expect(r.headers.get("x-backend")).toBe("b");
    }
    const s = await status();
    expect(s.healthy_backends).toBe(1);
    expect(s.backends.find((x) => x.address === `127.0.0.1:${a.port}`)?.status).toBe("down");
  });

  test("a worker that dies is restarted and the port keeps serving", async () => {
    const before = await status();
    const victim = before.workers![0]!.pid!;
    process.kill(victim, "SIGKILL");
    // A connection the kernel had already queued on the dead worker's socket is lost with it (as with
    // any crashed process); once the primary has seen the worker die (it reaped it and shows it as
    // restarting), the surviving worker takes every connection.
    await until(async () => (await status()).workers![0]!.pid !== victim, 5000, 5);
    let failed = 0;
    for (let i = 0; i < 50; i++) {
      const r = await fetch(`${proxyUrl}/`, { headers: { connection: "close" } }).catch(() => null);
      if (r?.status !== 200) failed++;
      await r?.text();
    }
    expect(failed).toBe(0);
    await until(async () => {
      const s = await status();
      return s.workers![0]!.restarts === 1 && s.workers![0]!.pid !== null && s.workers![0]!.pid !== victim;
    }, 10_000);
  });
});
