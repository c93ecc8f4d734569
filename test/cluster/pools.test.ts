// Pools between two in-process nodes on loopback: A (127.0.0.2) has no backend for "api", B (127.0.0.3)
// has one; both route /api (prefix stripped) to "api". On loopback A's forwards leave from 127.0.0.1,
// which is not a member's address, so B does not trust A's route header and routes by its own table:
// the path must be stripped exactly once either way. The trusted path (real member addresses) is
// covered by test/cluster/multihost/pools.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";
import { FAST_GOSSIP, startNode, type TestNode, until } from "../helpers/node.ts";

let a: TestNode;
let b: TestNode;
let web: BackendHandle;
let api: BackendHandle;

const ROUTE = `[[routes]]\npath_prefix = "/api"\npool = "api"\nstrip_prefix = true\n`;

beforeAll(async () => {
  web = startBackend({ name: "web", hostname: "127.0.0.2" });
  api = startBackend({ name: "api", hostname: "127.0.0.3" });
  a = await startNode({ name: "pa", bind: "127.0.0.2", backends: [`127.0.0.2:${web.port}`], tables: ROUTE, cluster: `shared_key = "k"\n${FAST_GOSSIP}` });
  b = await startNode({
    name: "pb",
    bind: "127.0.0.3",
    backends: [],
    tables: `[[pools]]\nname = "api"\n[[pools.backends]]\naddress = "127.0.0.3:${api.port}"\n${ROUTE}`,
    cluster: `shared_key = "k"\npeers = ["127.0.0.2:${a.cluster!.port}"]\n${FAST_GOSSIP}`,
  });
  await until(() => a.router.pool("api")?.weightOf("pb") === 1, 10_000);
});

afterAll(async () => {
  await Promise.all([a.stop(0), b.stop(0)]);
  await Promise.all([web.stop(), api.stop()]);
});

describe("pools between two nodes", () => {
  test("A serves web itself and forwards api to B; the prefix is stripped once", async () => {
    expect((await fetch(`${a.url}/`)).headers.get("x-backend")).toBe("web");
    const r = await fetch(`${a.url}/api/headers?x=1`);
    expect(r.headers.get("x-backend")).toBe("api");
    const seen = ((await r.json()) as { headers: Record<string, string> }).headers;
    expect(seen.via).toBe("1.1 pa, 1.1 pb");
    expect(Object.keys(seen).filter((k) => k.startsWith("x-clusterclub-"))).toEqual([]);
    expect(api.hits.get("/headers")).toBeGreaterThanOrEqual(1);
  });

  test("A's /status shows every member's healthy count for api", async () => {
    const s = (await (await fetch(`${a.adminUrl}/status`)).json()) as { pools: { name: string; members: { name: string; healthy: number }[] }[] };
    const apiPool = s.pools.find((p) => p.name === "api")!;
    expect(apiPool.members).toEqual(expect.arrayContaining([{ name: "pa", healthy: 0 }, { name: "pb", healthy: 1 }]));
  });

  test("a WebSocket routed to a pool on the peer opens there, the prefix stripped once", async () => {
    const ws = new WebSocket(`${a.url.replace("http:", "ws:")}/api/ws`);
    const first = await new Promise<string>((resolve, reject) => {
      ws.onmessage = (e) => resolve(String(e.data));
      ws.onerror = () => reject(new Error("websocket failed"));
    });
    expect(first).toBe("hello api");
    ws.close();
  });

  test("the api pool's backend going down: 503 with Retry-After at A, web untouched", async () => {
    await api.stop();
    await until(() => a.router.pool("api")?.weightOf("pb") === 0, 10_000);
    const r = await fetch(`${a.url}/api/x`);
    expect(r.status).toBe(503);
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await fetch(`${a.url}/`)).status).toBe(200);
  });
});
