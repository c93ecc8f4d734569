// [[rate_limits]] on the request path of real nodes: the 429 answer and its fields, a limit shared by
// two joined nodes through gossip, a forged Via still counted, and workers sharing one node's buckets.
// Loopback connections leave from 127.0.0.1 whatever address they go to, so the two-node cluster puts
// node a on 127.0.0.1 (every forward between the nodes then comes from a member's address, as between
// hosts) and its clients connect from 127.0.0.5; single nodes listen on 127.0.0.7.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import type { RateLimitConfig } from "../../src/config/schema.ts";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";
import { deadPort, FAST_GOSSIP, startNode, type TestNode, until } from "../helpers/node.ts";
import { requirePrerequisite } from "../helpers/prereq.ts";

const noCurl = requirePrerequisite("rate limits over HTTP/2 (test/proxy/ratelimit.test.ts)", Bun.which("curl") === null ? "curl not found" : undefined, "apt-get install curl");

const limit = (o: Partial<RateLimitConfig>): RateLimitConfig => ({ name: "per-client", key: { kind: "header", name: "x-client" }, rate: 1, burst: 3, scope: "cluster", ...o });

async function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  const r = await fetch(url, { headers });
  await r.arrayBuffer();
  return r;
}

/** A GET from 127.0.0.5 (not a member address): status and response fields. */
function getFrom5(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Map<string, string> }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port), localAddress: "127.0.0.5" }, () => {
      const fields = Object.entries({ host: u.host, connection: "close", ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
      s.write(`GET / HTTP/1.1\r\n${fields.join("")}\r\n`);
    });
    let out = "";
    s.on("data", (d) => (out += d.toString()));
    s.on("error", reject);
    s.on("close", () => {
      const [head = ""] = out.split("\r\n\r\n");
      const [status = "", ...lines] = head.split("\r\n");
      const h = new Map(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()] as const));
      resolve({ status: Number(status.split(" ")[1]), headers: h });
    });
  });
}

async function metric(n: TestNode, name: string): Promise<number> {
  const text = await (await fetch(`${n.adminUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

describe("rate limits on one node", () => {
  let backend: BackendHandle;
  let node: TestNode;
  beforeAll(async () => {
    backend = startBackend({ name: "a" });
    node = await startNode({
      name: "rl-one",
      bind: "127.0.0.7",
      backends: [`127.0.0.1:${backend.port}`],
      configure: (c) => {
        c.rateLimits = [limit({})];
      },
    });
  });
  afterAll(async () => {
    await node.stop(0);
    await backend.stop();
  });

  test("the burst passes, then 429 with Retry-After, RateLimit-Policy and RateLimit; other keys are untouched", async () => {
    for (let i = 0; i < 3; i++) expect((await get(node.url, { "x-client": "k1" })).status).toBe(200);
    const r = await get(node.url, { "x-client": "k1" });
    expect(r.status).toBe(429);
    expect(r.headers.get("retry-after")).toBe("1");
    expect(r.headers.get("ratelimit-policy")).toBe('"per-client";q=3;w=3');
    expect(r.headers.get("ratelimit")).toBe('"per-client";r=0;t=1');
    expect(r.headers.get("x-request-id")).toBeTruthy();
    expect((await get(node.url, { "x-client": "k2" })).status).toBe(200);
    expect(await metric(node, "clusterclub_ratelimit_keys")).toBe(2);
    const m = await (await fetch(`${node.adminUrl}/metrics`)).text();
    expect(m).toContain('clusterclub_ratelimit_limited_total{limit="per-client"} 1');
    expect(m).toContain('clusterclub_local_responses_total{status="429"} 1');
    // without the header, this limit does not apply
    for (let i = 0; i < 5; i++) expect((await get(node.url)).status).toBe(200);
  });
});

describe.skipIf(noCurl)("rate limits over HTTP/2", () => {
  let backend: BackendHandle;
  let node: TestNode;
  beforeAll(async () => {
    backend = startBackend({ name: "a" });
    node = await startNode({ name: "rl-h2", bind: "127.0.0.7", backends: [`127.0.0.1:${backend.port}`], configure: (c) => void (c.rateLimits = [limit({ burst: 2 })]) });
  });
  afterAll(async () => {
    await node.stop(0);
    await backend.stop();
  });

  test("h2c requests are counted like HTTP/1.1 ones and refused with the same fields", async () => {
    const out: string[] = [];
    for (let i = 0; i < 3; i++) {
      const p = Bun.spawn(["curl", "-s", "--max-time", "10", "--http2-prior-knowledge", "-o", "/dev/null", "-D", "-", "-w", "%{http_code} %{http_version}", "-H", "x-client: h2", node.url], { stdout: "pipe" });
      out.push(await new Response(p.stdout).text());
      await p.exited;
    }
    expect(out.map((o) => o.trim().split("\n").at(-1))).toEqual(["200 2", "200 2", "429 2"]);
    expect(out[2]).toContain('ratelimit: "per-client";r=0;t=1');
    expect(out[2]).toContain("retry-after: 1");
  });
});

describe("rate limits by route and by pool", () => {
  let api: BackendHandle;
  let dflt: BackendHandle;
  let node: TestNode;
  beforeAll(async () => {
    api = startBackend({ name: "api" });
    dflt = startBackend({ name: "default" });
    node = await startNode({
      name: "rl-routes",
      bind: "127.0.0.7",
      backends: [`127.0.0.1:${dflt.port}`],
      tables: `
[[pools]]
name = "api"
[[pools.backends]]
address = "127.0.0.1:${api.port}"
[[routes]]
path_prefix = "/api"
pool = "api"
[[routes]]
path_prefix = "/v2"
pool = "api"
[[routes]]
path_prefix = "/v3"
pool = "api"
[[routes]]
path_prefix = "/w"
pool = "default"
[[rate_limits]]
name = "per-route"
key = "route"
rate = 1
burst = 2
[[rate_limits]]
name = "api-clients"
key = "header:x-client"
rate = 1
burst = 1
pool = "api"
`,
    });
  });
  afterAll(async () => {
    await node.stop(0);
    await Promise.all([api.stop(), dflt.stop()]);
  });

  test('key = "route": one bucket per route (the fallback to the default pool is one too)', async () => {
    for (const path of ["/api/a", "/api/b"]) expect((await get(`${node.url}${path}`)).status).toBe(200);
    expect((await get(`${node.url}/api/c`)).status).toBe(429);
    for (const path of ["/v2", "/v2/x"]) expect((await get(`${node.url}${path}`)).status).toBe(200);
    expect((await get(`${node.url}/v2/y`)).status).toBe(429);
    for (const path of ["/", "/other"]) expect((await get(`${node.url}${path}`)).status).toBe(200);
    expect((await get(`${node.url}/third`)).status).toBe(429);
  });

  test("pool = ...: only requests routed to that pool count", async () => {
    expect((await get(`${node.url}/v3/x`, { "x-client": "c" })).status).toBe(200);
    const r = await get(`${node.url}/v3/y`, { "x-client": "c" });
    expect(r.status).toBe(429);
    expect(r.headers.get("ratelimit")).toBe('"api-clients";r=0;t=1');
    expect((await get(`${node.url}/w/x`, { "x-client": "c" })).status).toBe(200);
  });
});

describe("one limit, two nodes", () => {
  let backend: BackendHandle;
  let a: TestNode;
  let b: TestNode;
  beforeAll(async () => {
    // Node a has no healthy backend, so it forwards everything to b and b never forwards to a: b's
    // requests from a come from a member's address (trusted, not counted again), a's clients do not.
    backend = startBackend({ name: "b" });
    const limits = [limit({ burst: 5 }), limit({ name: "per-node", key: { kind: "header", name: "x-node-client" }, scope: "node", burst: 2 })];
    a = await startNode({ name: "rl-a", bind: "127.0.0.1", cluster: FAST_GOSSIP, backends: [`127.0.0.1:${deadPort()}`], configure: (c) => void (c.rateLimits = limits) });
    b = await startNode({
      name: "rl-b",
      bind: "127.0.0.9",
      cluster: `${FAST_GOSSIP}\npeers = ["127.0.0.1:${a.cluster!.port}"]`,
      backends: [`127.0.0.1:${backend.port}`],
      configure: (c) => void (c.rateLimits = limits),
    });
    await until(() => b.cluster!.members().length === 2 && a.router.snapshot.pools.some((p) => p.peers.length > 0), 10_000);
  });
  afterAll(async () => {
    await Promise.all([a.stop(0), b.stop(0)]);
    await backend.stop();
  });

  test("what one node admits, the other refuses; a member's forward is not counted again; a node-scope limit stays per node", async () => {
    for (let i = 0; i < 5; i++) expect((await getFrom5(a.url, { "x-client": "shared" })).status).toBe(200);
    await until(async () => (await metric(b, "clusterclub_ratelimit_charged_total")) >= 5, 5000);
    expect((await getFrom5(b.url, { "x-client": "shared" })).status).toBe(429);
    for (const n of [a, b]) {
      for (let i = 0; i < 2; i++) expect((await getFrom5(n.url, { "x-node-client": "x" })).status).toBe(200);
      expect((await getFrom5(n.url, { "x-node-client": "x" })).status).toBe(429);
    }
  });

  test("a client's Via naming a member earns no exemption: its request is counted", async () => {
    for (let i = 0; i < 5; i++) expect((await getFrom5(b.url, { "x-client": "forger", via: "1.1 rl-a" })).status).toBe(200);
    expect((await getFrom5(b.url, { "x-client": "forger", via: "1.1 rl-a" })).status).toBe(429);
  });
});

describe("rate limits with worker processes", () => {
  let backend: BackendHandle;
  let node: TestNode;
  beforeAll(async () => {
    backend = startBackend({ name: "a" });
    node = await startNode({
      name: "rl-workers",
      bind: "127.0.0.7",
      workers: 2,
      backends: [`127.0.0.1:${backend.port}`],
      configure: (c) => void (c.rateLimits = [limit({ burst: 6, scope: "node" })]),
    });
  });
  afterAll(async () => {
    await node.stop(0);
    await backend.stop();
  });

  test("the workers drain each other's buckets: one node admits its burst once, not once per worker", async () => {
    let ok = 0;
    const seenWorkers = new Set<string>();
    // New connections, 60 ms apart (more than the workers' 2 × 20 ms report and relay), over 1.2 s.
    for (let i = 0; i < 20; i++) {
      const r = await fetch(node.url, { headers: { "x-client": "w", connection: "close" } });
      await r.arrayBuffer();
      if (r.status === 200) ok++;
      // a 429's request id starts with the answering process's boot id
      if (r.status === 429) seenWorkers.add(r.headers.get("x-request-id")!.split("-")[0]!);
      await Bun.sleep(60);
    }
    // burst 6 + 1 s of refill; a worker that counted alone would admit 6 more
    expect(ok).toBeGreaterThanOrEqual(6);
    expect(ok).toBeLessThanOrEqual(8);
    expect(seenWorkers.size).toBeGreaterThan(1);
    // the workers' refusals reach the primary's metrics
    const refused = 20 - ok;
    await until(async () => (await (await fetch(`${node.adminUrl}/metrics`)).text()).includes(`clusterclub_ratelimit_limited_total{limit="per-client"} ${refused}`), 3000);
  });
});
