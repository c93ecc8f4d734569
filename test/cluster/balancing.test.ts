// Cluster-wide two-tier balancing on loopback: three in-process nodes on 127.0.0.2–4 (so the client on
// 127.0.0.1 is not a member), each with its own backends. The multi-host version with network
// namespaces is in test/cluster/multihost/.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";
import { FAST_GOSSIP, startNode, until } from "../helpers/node.ts";

type Node = Awaited<ReturnType<typeof startNode>>;

const nodes: Node[] = [];
const backends: BackendHandle[][] = [];
const COUNTS = [1, 2, 3];

async function status(n: Node) {
  return (await (await fetch(`${n.adminUrl}/status`)).json()) as {
    members: { name: string; state: string; weight: number; meta: { healthy?: number } }[];
  };
}

beforeAll(async () => {
  for (let i = 0; i < 3; i++) {
    const host = `127.0.0.${i + 2}`;
    backends.push(COUNTS.slice(0, COUNTS[i]).map((_, k) => startBackend({ name: `n${i + 1}-b${k + 1}`, hostname: host })));
  }
  const first = await startNode({
    name: "n1",
    bind: "127.0.0.2",
    backends: backends[0]!.map((b) => `127.0.0.2:${b.port}`),
    cluster: `shared_key = "test-key"\n${FAST_GOSSIP}`,
  });
  nodes.push(first);
  for (let i = 1; i < 3; i++) {
    const host = `127.0.0.${i + 2}`;
    nodes.push(
      await startNode({
        name: `n${i + 1}`,
        bind: host,
        backends: backends[i]!.map((b) => `${host}:${b.port}`),
        cluster: `shared_key = "test-key"\npeers = ["127.0.0.2:${first.cluster!.port}"]\n${FAST_GOSSIP}`,
      }),
    );
  }
  // Converged: every node sees three alive members with their healthy counts.
  await until(async () => {
    for (const n of nodes) {
      const s = await status(n);
      const healthy = s.members.filter((m) => m.state === "alive").map((m) => m.meta.healthy ?? -1).sort();
      if (healthy.join() !== "1,2,3") return false;
    }
    return true;
  }, 15_000);
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop(0)));
  await Promise.all(backends.flat().map((b) => b.stop()));
});

describe("two-tier balancing on loopback", () => {
  test("600 requests to any node spread evenly over all 6 backends, with at most one hop", async () => {
    for (const entry of nodes) {
      const byBackend = new Map<string, number>();
      let maxHops = 0;
      for (let i = 0; i < 600; i++) {
        const r = await fetch(`${entry.url}/`);
        expect(r.status).toBe(200);
        await r.text();
        const b = r.headers.get("x-backend")!;
        byBackend.set(b, (byBackend.get(b) ?? 0) + 1);
        const via = r.headers.get("x-seen-via")!;
        maxHops = Math.max(maxHops, via.split(",").length - 1);
      }
      expect(byBackend.size).toBe(6);
      for (const [, n] of byBackend) {
        expect(n).toBeGreaterThanOrEqual(90);
        expect(n).toBeLessThanOrEqual(110);
      }
      expect(maxHops).toBeLessThanOrEqual(1);
    }
  });

  test("/status shows members with healthy counts and this node's weights", async () => {
    const s = await status(nodes[0]!);
    const byName = Object.fromEntries(s.members.map((m) => [m.name, m]));
    expect(byName.n1!.weight).toBe(1);
    expect(byName.n2!.weight).toBe(2);
    expect(byName.n3!.weight).toBe(3);
  });

  test("a request already forwarded by a member (its Via) is served locally only", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const r = await fetch(`${nodes[0]!.url}/`, { headers: { via: "1.1 n2" } });
      seen.add(r.headers.get("x-backend")!);
      await r.text();
    }
    expect([...seen]).toEqual(["n1-b1"]);
  });

  test("stopping backends on one node shifts the shares after its next health checks", async () => {
    await backends[2]![0]!.stop();
    await backends[2]![1]!.stop();
    // n3 now has 1 healthy: weights 1:2:1.
    await until(async () => {
      const s = await status(nodes[0]!);
      return s.members.find((m) => m.name === "n3")?.weight === 1;
    }, 5000);
    const byNode = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const r = await fetch(`${nodes[0]!.url}/`);
      expect(r.status).toBe(200);
      await r.text();
      const node = r.headers.get("x-backend")!.split("-")[0]!;
      byNode.set(node, (byNode.get(node) ?? 0) + 1);
    }
    expect(byNode.get("n1")).toBe(100);
    expect(byNode.get("n2")).toBe(200);
    expect(byNode.get("n3")).toBe(100);
  });
});

describe("a peer that cannot serve after all", () => {
  test("a peer whose backends just died answers the marked 503 and the sender picks another node: no client error", async () => {
    const own = startBackend({ name: "p1-b1", hostname: "127.0.0.5" });
    const doomed = startBackend({ name: "p2-b1", hostname: "127.0.0.6" });
    const p1 = await startNode({ name: "p1", bind: "127.0.0.5", backends: [`127.0.0.5:${own.port}`], cluster: FAST_GOSSIP });
    // Slow checks on p2: only the failed forwarded request can reveal that its backend is gone.
    const p2 = await startNode({
      name: "p2",
      bind: "127.0.0.6",
      backends: [`127.0.0.6:${doomed.port}`],
      cluster: `peers = ["127.0.0.5:${p1.cluster!.port}"]\n${FAST_GOSSIP}`,
      health: 'interval = "30s"',
    });
    try {
      await until(() => p1.router.pool("default")?.weightOf("p2") === 1, 10_000);
      await doomed.stop();
      let failed = 0;
      for (let i = 0; i < 20; i++) {
        const r = await fetch(`${p1.url}/`);
        if (r.status !== 200) failed++;
        expect(r.headers.get("x-clusterclub-no-backend")).toBeNull();
        await r.text();
      }
      expect(failed).toBe(0);
      expect(p2.stats.localAnswers.slot({ status: "503" }).value).toBeGreaterThanOrEqual(1);
    } finally {
      await p2.stop(0);
      await p1.stop(0);
      await own.stop();
    }
  });
});

describe("gossip metrics", () => {
  test("/metrics exports the gossip counters", async () => {
    const m = await (await fetch(`${nodes[0]!.adminUrl}/metrics`)).text();
    for (const series of [
      'clusterclub_gossip_messages_in_total{type="ping"}',
      'clusterclub_gossip_packets_total{direction="out"}',
      "clusterclub_gossip_probes_total",
      "clusterclub_gossip_suspicions_total",
      "clusterclub_gossip_refutations_total",
      "clusterclub_gossip_health_score",
      'clusterclub_gossip_members{state="alive"} 3',
      "clusterclub_gossip_meta_broadcasts_total",
    ]) {
      expect(m).toContain(series);
    }
  });
});
