// balance = "hash" across hosts, one network namespace per host: the pool "sticky" has backends on three
// nodes (node weights 3, 3, 1), hashed on the X-User header. A user lands on the same backend whichever node
// it enters by; when one backend dies, users on the other nodes stay where they were, and every entry
// node sends the ones that move to the same new place.
// Nodes and backends are real processes; requests come from the lab's controller address.
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
/** Backends of "sticky" per host (ports 3001...). */
const BACKENDS = [2, 2, 1];
const USERS = Array.from({ length: 120 }, (_, i) => `user-${i}`);

const avail = labAvailable();
const noLab = requirePrerequisite("multi-host hash tests", avail.ok ? undefined : avail.why);

describe.skipIf(noLab)("hash balancing across hosts (network namespaces)", () => {
  let lab: Lab;
  const dir = mkdtempSync(join(tmpdir(), "cc-hash-"));
  const procs = new Map<string, ReturnType<Lab["spawn"]>>();

  async function weights(host: Host): Promise<Record<string, number>> {
    const r = await fetch(`http://${host.ip}:${ADMIN_PORT}/status`, { signal: AbortSignal.timeout(2000) });
    const pools = ((await r.json()) as { pools: { name: string; members: { name: string; healthy: number }[] }[] }).pools;
    return Object.fromEntries((pools.find((p) => p.name === "sticky")?.members ?? []).map((m) => [m.name, m.healthy]));
  }

  async function converged(want: Record<string, number>): Promise<void> {
    await until(
      async () => {
        for (const h of lab.hosts) {
          const w = await weights(h).catch(() => ({}) as Record<string, number>);
          for (const [n, v] of Object.entries(want)) if (w[n] !== v) return false;
        }
        return true;
      },
      30_000,
      100,
    );
  }

  /** The backend each user lands on, entering by `entry`. */
  async function placement(entry: Host): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const u of USERS) {
      const r = await fetch(`http://${entry.ip}:${PROXY_PORT}/`, { headers: { host: "sticky.example.com", "x-user": u }, signal: AbortSignal.timeout(5000) });
      await r.arrayBuffer();
      expect(r.status).toBe(200);
      out.set(u, r.headers.get("x-backend") ?? "?");
    }
    return out;
  }

  beforeAll(async () => {
    lab = Lab.create(3);
    lab.hosts.forEach((h, i) => {
      const tables: string[] = ['[[pools]]\nname = "sticky"\nbalance = "hash"\nhash_key = "header:x-user"'];
      for (let k = 0; k < BACKENDS[i]!; k++) {
        const name = `${h.name}-b${k + 1}`;
        procs.set(name, lab.spawn(h, ["bun", BACKEND, String(3001 + k), name, "127.0.0.1"]));
        // h1's and h2's first backends weigh 2: node weights are healthy weight sums (h1 3, h2 3, h3 1).
        tables.push(`[[pools.backends]]\naddress = "127.0.0.1:${3001 + k}"\nweight = ${k === 0 && i < 2 ? 2 : 1}`);
      }
      const peers = i === 0 ? [] : [`${lab.hosts[0]!.ip}:${GOSSIP_PORT}`];
      const base = labNodeToml({ name: h.name, ip: h.ip, sharedKey: "hash-test", peers, backends: [], adminAllow: [`${lab.controllerIp}/32`] });
      const path = join(dir, `${h.name}.toml`);
      writeFileSync(path, `${base}\n${tables.join("\n")}\n[[routes]]\nhost = "sticky.example.com"\npool = "sticky"\n`);
      lab.spawn(h, ["bun", MAIN, path, "--log-format", "json", "--log-level", "warn"]);
    });
    await converged({ "node-h1": 3, "node-h2": 3, "node-h3": 1 });
  }, 60_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  test("a user lands on the same backend from every entry node; users spread over every backend", async () => {
    const [a, b, c] = await Promise.all(lab.hosts.map((h) => placement(h)));
    for (const u of USERS) expect([u, b!.get(u), c!.get(u)]).toEqual([u, a!.get(u), a!.get(u)]);
    const counts: Record<string, number> = {};
    for (const v of a!.values()) counts[v] = (counts[v] ?? 0) + 1;
    console.log(`users per backend (weights h1-b1 2, h1-b2 1, h2-b1 2, h2-b2 1, h3-b1 1): ${JSON.stringify(counts)}`);
    expect(Object.keys(counts).sort()).toEqual(["h1-b1", "h1-b2", "h2-b1", "h2-b2", "h3-b1"]);
  }, 60_000);

  test("a backend dies: users on other nodes stay, the moved ones go to the same place from every entry node", async () => {
    const before = await placement(lab.hosts[0]!);
    procs.get("h2-b1")!.kill("SIGKILL");
    await converged({ "node-h2": 1 });
    const after = await Promise.all(lab.hosts.map((h) => placement(h)));
    let moved = 0;
    let onH2 = 0;
    for (const u of USERS) {
      const was = before.get(u)!;
      const now = after[0]!.get(u)!;
      expect([u, after[1]!.get(u), after[2]!.get(u)]).toEqual([u, now, now]);
      expect(now).not.toBe("h2-b1");
      // Two levels: node by rendezvous on the nodes' weights (h2's fell from 3 to 1, so it keeps ~1/3 of its
      // users), then backend within the node. Nobody moves off h1 or h3.
      if (was.startsWith("h2-")) onH2++;
      else expect([u, now]).toEqual([u, was]);
      if (now !== was) moved++;
    }
    console.log(`${moved} of ${USERS.length} users moved; ${onH2} had been on h2`);
    expect(moved).toBeGreaterThan(0);
    expect(moved).toBeLessThanOrEqual(onH2);
  }, 60_000);
});
