// Routes and pools on one real node: Host and path pick the pool, strip_prefix rewrites once, no route
// is a 404, a client cannot pick a pool with the internal header, and a reload changes routes live.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/index.ts";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";
import { startNode, type TestNode, until } from "../helpers/node.ts";

let node: TestNode;
let api: BackendHandle;
let web: BackendHandle;
let dflt: BackendHandle;

const tables = () => `
[[pools]]
name = "api"
[[pools.backends]]
address = "127.0.0.1:${api.port}"
[[pools]]
name = "web"
[[pools.backends]]
address = "127.0.0.1:${web.port}"
[[routes]]
host = "api.example.com"
path_prefix = "/v1"
pool = "api"
strip_prefix = true
[[routes]]
host = "*.example.com"
pool = "web"
[[routes]]
path_prefix = "/static"
pool = "web"
`;

beforeAll(async () => {
  api = startBackend({ name: "api" });
  web = startBackend({ name: "web" });
  dflt = startBackend({ name: "default" });
  node = await startNode({ backends: [`127.0.0.1:${dflt.port}`], tables: tables() });
});

afterAll(async () => {
  await node.stop(0);
  await Promise.all([api.stop(), web.stop(), dflt.stop()]);
});

/** Which backend served: its name, and the path it saw (from /headers, which echoes the request). */
async function get(host: string, path: string, headers: Record<string, string> = {}) {
  const r = await fetch(`${node.url}${path}`, { headers: { host, ...headers } });
  return { status: r.status, backend: r.headers.get("x-backend"), body: await r.text() };
}

describe("routes on one node", () => {
  test("Host and path choose the pool; the most specific route wins", async () => {
    expect((await get("api.example.com", "/v1/users")).backend).toBe("api");
    expect((await get("API.example.com:8080", "/v1")).backend).toBe("api");
    expect((await get("api.example.com", "/v10")).backend).toBe("web");
    expect((await get("www.example.com", "/v1/users")).backend).toBe("web");
    expect((await get("other.test", "/static/app.js")).backend).toBe("web");
    expect((await get("other.test", "/")).backend).toBe("default");
  });

  test("strip_prefix: the backend sees the path without the prefix, the query kept", async () => {
    const before = api.hits.get("/headers") ?? 0;
    const r = await fetch(`${node.url}/v1/headers?x=1`, { headers: { host: "api.example.com" } });
    expect(r.headers.get("x-backend")).toBe("api");
    await r.text();
    expect(api.hits.get("/headers")).toBe(before + 1);
  });

  test("a client's x-clusterclub-pool header selects nothing and never reaches a backend", async () => {
    const r = await fetch(`${node.url}/headers`, { headers: { host: "other.test", "x-clusterclub-pool": "api" } });
    expect(r.headers.get("x-backend")).toBe("default");
    const seen = (await r.json()) as Record<string, string>;
    expect(Object.keys(seen).filter((k) => k.startsWith("x-clusterclub-"))).toEqual([]);
  });

  test("/status lists pools and routes in match order; /metrics labels by pool", async () => {
    const s = (await (await fetch(`${node.adminUrl}/status`)).json()) as {
      pools: { name: string; healthy: number; members: { name: string; healthy: number }[] }[];
      routes: { host: string; path_prefix: string; pool: string }[];
      backends: { pool: string; address: string }[];
    };
    expect(s.pools.map((p) => [p.name, p.healthy])).toEqual([["default", 1], ["api", 1], ["web", 1]]);
    expect(s.routes.map((r) => `${r.host} ${r.path_prefix} ${r.pool}`)).toEqual(["api.example.com /v1 api", "*.example.com / web", "* /static web", "* / default"]);
    expect(s.backends.map((b) => b.pool)).toEqual(["default", "api", "web"]);
    const m = await (await fetch(`${node.adminUrl}/metrics`)).text();
    expect(m).toContain(`clusterclub_backend_healthy{pool="api",backend="127.0.0.1:${api.port}"} 1`);
    expect(m).toMatch(/clusterclub_requests_total\{pool="web",target="127\.0\.0\.1:\d+",protocol="1\.1",class="2xx"\} [1-9]/);
  });

  test("a reload changes routes and pools live; no route and no default pool is a one-line 404", async () => {
    const cfg = parseConfig(
      `[cluster]\nnode_name = "test-node"\nlisten_port = 0\nbind_address = "127.0.0.1"\n[proxy]\nlisten_port = 0\nbind_address = "127.0.0.1"\nworkers = 1\n[admin]\nlisten_port = 0\n[health]\ninterval = "100ms"\ntimeout = "100ms"\nrise = 1\nfall = 1\n` +
        `[[pools]]\nname = "api"\n[[pools.backends]]\naddress = "127.0.0.1:${api.port}"\n[[routes]]\nhost = "api.example.com"\npool = "api"\n`,
      "reload",
    );
    const result = await node.reload(cfg);
    expect(result.applied).toEqual(expect.arrayContaining(["backends", "pools", "routes"]));
    await until(() => node.router.pool("web") === undefined, 2000);
    expect((await get("api.example.com", "/v1/users")).backend).toBe("api");
    const miss = await get("www.example.com", "/");
    expect(miss.status).toBe(404);
    expect(miss.body).toMatch(/^404 no route for this host and path; request id \S+\n$/);
  });
});
