// Pools across hosts, one network namespace per host: "api" on h1 and h2 (1 and 3 backends), "web" on h3
// only, the same routes everywhere and no default pool. Then a fourth node with 64 pools joins.
// Nodes and backends are real processes; the test reads admin APIs and sends requests from the
// lab's controller address (not a member, so entry nodes balance its requests).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LAB_PORTS, labNodeToml } from "../../helpers/labnode.ts";
import { until } from "../../helpers/node.ts";
import { requirePrerequisite } from "../../helpers/prereq.ts";
import { type Host, Lab, labAvailable } from "./lab.ts";

const ROOT = join(import.meta.dir, "../../..");
const MAIN = join(ROOT, "src/main.ts");
const BACKEND = join(ROOT, "test/fixtures/backend.ts");
const { proxy: PROXY_PORT, admin: ADMIN_PORT, gossip: GOSSIP_PORT } = LAB_PORTS;
/** Pools each of h1..h3 serves, with their backend counts. */
const SERVES: Record<string, number>[] = [{ api: 1 }, { api: 3 }, { web: 2 }];
const MANY = Array.from({ length: 64 }, (_, i) => `p${String(i).padStart(2, "0")}-${"n".repeat(28)}`);

const avail = labAvailable();
const noLab = requirePrerequisite("multi-host pool tests", avail.ok ? undefined : avail.why);

interface PoolStatus {
  name: string;
  members: { name: string; healthy: number }[];
}

/** The routes every node has: two services by Host, and one path per pool of the 64-pool node. */
const ROUTES = [
  `[[routes]]\nhost = "api.example.com"\npath_prefix = "/api"\nstrip_prefix = true\npool = "api"`,
  `[[routes]]\nhost = "web.example.com"\npool = "web"`,
  ...MANY.map((p, i) => `[[routes]]\npath_prefix = "/many/${i}"\npool = "${p}"`),
].join("\n");

function poolTables(pools: Record<string, number>, firstPort: number): string {
  let port = firstPort;
  return Object.entries(pools)
    .map(([name, n]) => `[[pools]]\nname = "${name}"\n${Array.from({ length: n }, () => `[[pools.backends]]\naddress = "127.0.0.1:${port++}"`).join("\n")}`)
    .join("\n");
}

describe.skipIf(noLab)("pools across hosts (network namespaces)", () => {
  let lab: Lab;
  const dir = mkdtempSync(join(tmpdir(), "cc-pools-"));
  const webBackends: ReturnType<Lab["spawn"]>[] = [];

  function startNodeOn(host: Host, pools: string): void {
    const path = join(dir, `${host.name}.toml`);
    const peers = host === lab.hosts[0] ? [] : [`${lab.hosts[0]!.ip}:${GOSSIP_PORT}`];
    const base = labNodeToml({ name: host.name, ip: host.ip, sharedKey: "pools-test", peers, backends: [], adminAllow: [`${lab.controllerIp}/32`] });
    writeFileSync(path, `${base}\n${pools}\n${ROUTES}\n`);
    lab.spawn(host, ["bun", MAIN, path, "--log-format", "json", "--log-level", "warn"]);
  }

  async function pools(host: Host): Promise<PoolStatus[]> {
    const r = await fetch(`http://${host.ip}:${ADMIN_PORT}/status`, { signal: AbortSignal.timeout(2000) });
    return ((await r.json()) as { pools: PoolStatus[] }).pools;
  }

  /** Every running node sees `want[pool][node]` as that node's healthy count for the pool. */
  async function converged(hosts: Host[], want: Record<string, Record<string, number>>, timeoutMs = 30_000): Promise<void> {
    await until(
      async () => {
        for (const h of hosts) {
          try {
            const seen = new Map((await pools(h)).map((p) => [p.name, new Map(p.members.map((m) => [m.name, m.healthy]))]));
            for (const [pool, nodes] of Object.entries(want)) for (const [node, n] of Object.entries(nodes)) if (seen.get(pool)?.get(node) !== n) return false;
          } catch {
            return false;
          }
        }
        return true;
      },
      timeoutMs,
      100,
    );
  }

  async function get(entry: Host, host: string, path = "/") {
    const r = await fetch(`http://${entry.ip}:${PROXY_PORT}${path}`, { headers: { host }, signal: AbortSignal.timeout(5000) });
    return { status: r.status, backend: r.headers.get("x-backend"), retryAfter: r.headers.get("retry-after"), body: await r.text() };
  }

  beforeAll(async () => {
    lab = Lab.create(4);
    SERVES.forEach((pools, i) => {
      const h = lab.hosts[i]!;
      let port = 3001;
      for (const [name, n] of Object.entries(pools)) {
        for (let k = 0; k < n; k++) {
          const p = lab.spawn(h, ["bun", BACKEND, String(port++), `${h.name}-${name}${k + 1}`, "127.0.0.1"]);
          if (name === "web") webBackends.push(p);
        }
      }
    });
    for (let i = 0; i < 3; i++) startNodeOn(lab.hosts[i]!, poolTables(SERVES[i]!, 3001));
    await converged(lab.hosts.slice(0, 3), { api: { "node-h1": 1, "node-h2": 3, "node-h3": 0 }, web: { "node-h1": 0, "node-h2": 0, "node-h3": 2 } });
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  test("from any node, api spreads 1:3 over its four backends, web reaches only h3, an unrouted host gets 404", async () => {
    const table: string[] = [];
    for (const entry of lab.hosts.slice(0, 3)) {
      const api: Record<string, number> = {};
      for (let i = 0; i < 200; i++) {
        const r = await get(entry, "api.example.com", "/api/headers");
        expect(r.status).toBe(200);
        // Stripped once, at the entry node, whichever node served it: the backend answered /headers.
        const seen = JSON.parse(r.body) as Record<string, string>;
        expect(Object.keys(seen).filter((k) => k.startsWith("x-clusterclub-"))).toEqual([]);
        api[r.backend!] = (api[r.backend!] ?? 0) + 1;
      }
      table.push(`${entry.name} api → ${JSON.stringify(api)}`);
      expect(Object.keys(api).sort()).toEqual(["h1-api1", "h2-api1", "h2-api2", "h2-api3"]);
      // 1:3 between the nodes by their healthy counts, round-robin within h2: 50 each, ±20%.
      for (const n of Object.values(api)) {
        expect(n).toBeGreaterThanOrEqual(40);
        expect(n).toBeLessThanOrEqual(60);
      }
      const web = new Set<string>();
      for (let i = 0; i < 20; i++) web.add((await get(entry, "web.example.com")).backend!);
      expect([...web].sort()).toEqual(["h3-web1", "h3-web2"]);
      const miss = await get(entry, "nothing.example.org");
      expect(miss.status).toBe(404);
    }
    console.log(`api requests by backend, 200 per entry node\n  ${table.join("\n  ")}`);
  }, 60_000);

  test("h3's web backends die: web gets 503 with Retry-After from every node, api is untouched", async () => {
    const t0 = performance.now();
    for (const p of webBackends) p.kill("SIGKILL");
    await converged(lab.hosts.slice(0, 3), { web: { "node-h3": 0 } });
    // Detection is h3's check (interval 500 ms, fall 1); the rest is gossip.
    console.log(`every node saw web = 0 on h3 ${(performance.now() - t0).toFixed(0)} ms after its backends died (health interval 500 ms)`);
    for (const entry of lab.hosts.slice(0, 3)) {
      const r = await get(entry, "web.example.com");
      expect(r.status).toBe(503);
      expect(Number(r.retryAfter)).toBeGreaterThan(0);
      for (let i = 0; i < 8; i++) expect((await get(entry, "api.example.com", "/api/")).status).toBe(200);
    }
  }, 30_000);

  test("a node with 64 pools joins: every peer sees all 64 counts and routes to them", async () => {
    const h4 = lab.hosts[3]!;
    lab.spawn(h4, ["bun", BACKEND, "3001", "h4-shared", "127.0.0.1"]);
    // 64 pools with one backend each (the same process): the most one node's metadata carries.
    startNodeOn(h4, MANY.map((p) => `[[pools]]\nname = "${p}"\n[[pools.backends]]\naddress = "127.0.0.1:3001"`).join("\n"));
    await converged(lab.hosts, Object.fromEntries(MANY.map((p) => [p, { "node-h4": 1 }])));
    for (const entry of lab.hosts.slice(0, 3)) {
      expect((await get(entry, "x.test", "/many/0")).backend).toBe("h4-shared");
      expect((await get(entry, "x.test", "/many/63")).backend).toBe("h4-shared");
    }
  }, 60_000);
});
