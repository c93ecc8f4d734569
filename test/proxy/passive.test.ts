// Passive outlier detection through a real node: a backend whose application fails (503 on every path,
// its /healthz included) is ejected after max_fails and returns after ejection_time, in one process and
// with worker processes (their evidence reaches the primary over IPC).
import { describe, expect, test } from "bun:test";
import { startBackend } from "../fixtures/backend.ts";
import { startNode, until } from "../helpers/node.ts";

const HEALTH = 'type = "http"\npath = "/healthz"\ninterval = "30s"\ntimeout = "500ms"\nrise = 1\nfall = 3\nmax_fails = 3\nfail_window = "10s"\nejection_time = "800ms"';

type Status = {
  backends: { address: string; ejected: boolean; ejections: number; status: string }[];
  pools: { name: string; ejected: number; passive: { max_fails: number } }[];
};

for (const workers of [1, 2]) {
  describe(`passive outlier detection (workers = ${workers})`, () => {
    test("a failing backend is ejected after max_fails, shown in /status and metrics, and returns after ejection_time", async () => {
      const [a, b, c] = ["a", "b", "c"].map((name) => startBackend({ name }));
      const node = await startNode({ backends: [a, b, c].map((x) => `127.0.0.1:${x!.port}`), health: HEALTH, workers });
      const bAddr = `127.0.0.1:${b!.port}`;
      try {
        b!.failWith = 503;
        b!.healthz = 503;
        // Round-robin: every third request reaches b until it is ejected.
        await until(async () => {
          await (await fetch(`${node.url}/`)).arrayBuffer();
          return node.health.backends()[1]!.ejectedUntil !== null;
        }, 5000);
        const s = (await (await fetch(`${node.adminUrl}/status`)).json()) as Status;
        expect(s.pools.map((p) => [p.name, p.ejected, p.passive.max_fails])).toEqual([["default", 1, 3]]);
        expect(s.backends.map((x) => [x.address, x.ejected, x.status])).toEqual([
          [`127.0.0.1:${a!.port}`, false, "up"],
          [bAddr, true, "up"],
          [`127.0.0.1:${c!.port}`, false, "up"],
        ]);
        const metrics = await (await fetch(`${node.adminUrl}/metrics`)).text();
        expect(metrics).toContain(`clusterclub_backend_ejected{pool="default",backend="${bAddr}"} 1`);
        expect(metrics).toContain(`clusterclub_backend_ejections_total{pool="default",backend="${bAddr}"} 1`);
        // While ejected b gets nothing (workers have the snapshot once the primary published it).
        await Bun.sleep(50);
        const hitsBefore = b!.total;
        for (let i = 0; i < 9; i++) expect((await fetch(`${node.url}/`)).status).toBe(200);
        expect(b!.total).toBe(hitsBefore);
        // It heals and is back after ejection_time, without an active check in between (interval 30 s).
        b!.failWith = null;
        b!.healthz = 200;
        await until(() => node.health.backends()[1]!.ejectedUntil === null, 3000);
        await Bun.sleep(50);
        const names = new Set<string>();
        for (let i = 0; i < 6; i++) names.add((await fetch(`${node.url}/`)).headers.get("x-backend") ?? "");
        expect(names).toEqual(new Set(["a", "b", "c"]));
      } finally {
        await node.stop(0);
        for (const x of [a, b, c]) await x!.stop();
      }
    }, 15_000);
  });
}

test("max_ejected_percent: with 50% of 2 backends, only one of two failing backends is ejected", async () => {
  const [a, b] = ["a", "b"].map((name) => startBackend({ name }));
  const node = await startNode({ backends: [a, b].map((x) => `127.0.0.1:${x!.port}`), health: `${HEALTH}\nmax_ejected_percent = 50` });
  try {
    for (const x of [a, b]) {
      x!.failWith = 502;
      x!.healthz = 502;
    }
    for (let i = 0; i < 12; i++) await (await fetch(`${node.url}/`)).arrayBuffer();
    await Bun.sleep(100);
    expect(node.health.pool("default").filter((x) => x.ejectedUntil !== null).length).toBe(1);
    // The other stays in, serving its 502s: the floor keeps half the pool.
    expect(node.health.healthyCount("default")).toBe(1);
    expect(node.health.backends().map((x) => x.status)).toEqual(["up", "up"]);
  } finally {
    await node.stop(0);
    for (const x of [a, b]) await x!.stop();
  }
});
