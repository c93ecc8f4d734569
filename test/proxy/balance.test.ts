// Each balancing policy against real backends on loopback, through a real node.
import { afterEach, describe, expect, test } from "bun:test";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";
import { startNode, type TestNode, until } from "../helpers/node.ts";

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

type Backend = Pick<BackendHandle, "port" | "stop">;

async function setup(backends: Backend[], proxy: string, weights?: number[]): Promise<TestNode> {
  const node = await startNode({
    backends: backends.map((b) => `127.0.0.1:${b.port}`),
    proxy,
    configure: (c) => {
      if (weights) c.backends.forEach((b, i) => (b.weight = weights[i]!));
    },
  });
  cleanup.push(async () => {
    await node.stop(0);
    for (const b of backends) await b.stop();
  });
  return node;
}

/** Which backend answered, by its x-backend header. */
async function who(url: string, init?: RequestInit): Promise<string> {
  const r = await fetch(url, init);
  await r.arrayBuffer();
  expect(r.status).toBe(200);
  return r.headers.get("x-backend") ?? "?";
}

/** `clients` loops sending GET / for `ms`; the backend names that answered, tallied. */
async function load(url: string, clients: number, ms: number): Promise<Record<string, number>> {
  const tally: Record<string, number> = {};
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const name = await who(`${url}/`);
        tally[name] = (tally[name] ?? 0) + 1;
      }
    }),
  );
  return tally;
}

/**
 * A backend for streamed responses: `/` answers at once with a small body; `/stream?n=` sends its
 * headers and a first event at once, then an event every 100 ms, n in all (SSE-like, chunked). With
 * `holds` false, `/stream` is a small answer after 200 ms instead (so concurrent ones overlap).
 */
function streamingBackend(name: string, holds: boolean): Backend {
  const enc = new TextEncoder();
  const who = { "x-backend": name };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    fetch(req) {
      const url = new URL(req.url);
      if (url.pathname !== "/stream") return new Response(`${name}\n`, { headers: who });
      if (!holds) return Bun.sleep(200).then(() => new Response("no stream here\n", { headers: who }));
      const n = Number(url.searchParams.get("n") ?? 100);
      let i = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(c) {
          if (i >= n) return c.close();
          if (i > 0) await Bun.sleep(100);
          c.enqueue(enc.encode(`data: ${i++}\n\n`));
        },
      });
      return new Response(body, { headers: { ...who, "content-type": "text/event-stream" } });
    },
  });
  return { port: server.port ?? 0, stop: () => server.stop(true) };
}

const share = (t: Record<string, number>, name: string) => (t[name] ?? 0) / Object.values(t).reduce((a, b) => a + b, 0);

describe("balancing policies", () => {
  test("round_robin honours weights: 1:3 gives 25%/75% (±2%)", async () => {
    const a = startBackend({ name: "a" });
    const b = startBackend({ name: "b" });
    const node = await setup([a, b], "", [1, 3]);
    const t: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const n = await who(`${node.url}/`);
      t[n] = (t[n] ?? 0) + 1;
    }
    expect(Math.abs(share(t, "a") - 0.25)).toBeLessThanOrEqual(0.02);
  });

  test("least_conn: a backend holding long requests gets few new ones (< 10%; round-robin would give 50%)", async () => {
    const slow = startBackend({ name: "slow", delayMs: 400 });
    const fast = startBackend({ name: "fast" });
    const node = await setup([slow, fast], 'balance = "least_conn"');
    const t = await load(node.url, 4, 1500);
    expect(share(t, "slow")).toBeLessThan(0.1);
    expect(t.fast).toBeGreaterThan(50);
  }, 10_000);

  test("least_conn: an open WebSocket tunnel counts in flight until it closes", async () => {
    const a = startBackend({ name: "a" });
    const b = startBackend({ name: "b" });
    const node = await setup([a, b], 'balance = "least_conn"');
    const inFlight = (name: string) => node.router.pool("default")?.loadOf(name === "a" ? 0 : 1)?.inFlight;
    const ws = new WebSocket(`${node.url.replace("http:", "ws:")}/ws`);
    const greeting = await new Promise<string>((resolve, reject) => {
      ws.onmessage = (e) => resolve(String(e.data));
      ws.onerror = () => reject(new Error("websocket failed"));
    });
    const held = greeting.replace("hello ", "");
    const other = held === "a" ? "b" : "a";
    expect(inFlight(held)).toBe(1);
    // Tunnels were not counted: ties would then alternate, and half of these went to `held`.
    for (let i = 0; i < 10; i++) expect(await who(`${node.url}/`)).toBe(other);
    ws.close();
    await until(() => inFlight(held) === 0, 3000);
    const t: Record<string, number> = {};
    for (let i = 0; i < 10; i++) {
      const name = await who(`${node.url}/`);
      t[name] = (t[name] ?? 0) + 1;
    }
    expect(t).toEqual({ a: 5, b: 5 });
  });

  test("least_conn: streamed responses count in flight until their bodies end, exactly once", async () => {
    const streamer = streamingBackend("streamer", true);
    const quick = streamingBackend("quick", false);
    const node = await setup([streamer, quick], 'balance = "least_conn"');
    const inFlight = (i: number) => node.router.pool("default")?.loadOf(i)?.inFlight;
    // Six stream requests at once alternate between the two: the streamer keeps ~3 bodies open.
    const streams = await Promise.all(Array.from({ length: 6 }, () => fetch(`${node.url}/stream`)));
    const held = streams.filter((r) => r.headers.get("x-backend") === "streamer");
    for (const r of streams) if (!held.includes(r)) await r.text();
    expect(held.length).toBeGreaterThanOrEqual(2);
    expect(inFlight(0)).toBe(held.length);
    // Counting ended at the headers, the streamer looked idle and got about half of these.
    const t = await load(node.url, 2, 1000);
    expect(share(t, "streamer")).toBeLessThan(0.1);
    // Client cancels end them: the count comes back to 0, not below; a body that ends by itself too.
    for (const r of held) await r.body?.cancel();
    await until(() => inFlight(0) === 0, 3000);
    const short = await fetch(`${node.url}/stream?n=2`);
    if (short.headers.get("x-backend") === "streamer") {
      expect(inFlight(0)).toBe(1);
      expect(await short.text()).toBe("data: 0\n\ndata: 1\n\n");
    } else await short.text();
    await until(() => inFlight(0) === 0, 3000);
    // An upstream that breaks mid-body ends it as well.
    let broken: Response | undefined;
    while (broken === undefined) {
      const r = await fetch(`${node.url}/stream`);
      if (r.headers.get("x-backend") === "streamer") broken = r;
      else await r.text();
    }
    expect(inFlight(0)).toBe(1);
    await streamer.stop();
    await broken.text().catch(() => "");
    await until(() => inFlight(0) === 0, 3000);
    await Bun.sleep(50);
    expect([inFlight(0), inFlight(1)]).toEqual([0, 0]);
  }, 15_000);

  test("p2c_ewma: one backend 10x slower gets < 10% (round-robin would give 33%)", async () => {
    const f1 = startBackend({ name: "f1", delayMs: 5 });
    const f2 = startBackend({ name: "f2", delayMs: 5 });
    const slow = startBackend({ name: "slow", delayMs: 50 });
    const node = await setup([f1, slow, f2], 'balance = "p2c_ewma"');
    const t = await load(node.url, 4, 1500);
    expect(share(t, "slow")).toBeLessThan(0.1);
    // The fast two share the rest evenly-ish.
    expect(Math.abs(share(t, "f1") - share(t, "f2"))).toBeLessThan(0.2);
  }, 10_000);

  test("hash on a header: a user always lands on the same backend, users spread over both", async () => {
    const a = startBackend({ name: "a" });
    const b = startBackend({ name: "b" });
    const node = await setup([a, b], 'balance = "hash"\nhash_key = "header:x-user"');
    const seen = new Set<string>();
    for (let u = 0; u < 20; u++) {
      const names = new Set<string>();
      for (let i = 0; i < 3; i++) names.add(await who(`${node.url}/`, { headers: { "x-user": `user-${u}` } }));
      expect(names.size).toBe(1);
      seen.add([...names][0]!);
    }
    expect(seen).toEqual(new Set(["a", "b"]));
  });

  test("weight 0 drains: requests in flight finish, new ones go elsewhere", async () => {
    const a = startBackend({ name: "a" });
    const b = startBackend({ name: "b" });
    const node = await setup([a, b], "");
    // One long request on each backend (round-robin), then b is set to weight 0 by a reload.
    const long = [fetch(`${node.url}/slow/600`), fetch(`${node.url}/slow/600`)];
    await Bun.sleep(100);
    expect(b.hits.get("/slow/600")).toBe(1);
    const drain = (list: typeof node.config.backends) => list.map((x) => (x.port === b.port ? { ...x, weight: 0 } : x));
    const next = { ...node.config, backends: drain(node.config.backends), pools: node.config.pools.map((p) => ({ ...p, backends: drain(p.backends) })) };
    await node.reload(next);
    for (const r of await Promise.all(long)) {
      expect(r.status).toBe(200);
      expect(await r.text()).toStartWith("slow 600ms");
    }
    for (let i = 0; i < 10; i++) expect(await who(`${node.url}/`)).toBe("a");
    const s = (await (await fetch(`${node.adminUrl}/status`)).json()) as { backends: { weight: number; status: string }[]; members: unknown[] };
    expect(s.backends.map((x) => [x.weight, x.status])).toEqual([[1, "up"], [0, "up"]]);
  });
});

describe("per pool", () => {
  test("each pool balances, checks and ejects by its own settings; the default pool by [proxy]/[health]", async () => {
    const d1 = startBackend({ name: "d1" });
    const d2 = startBackend({ name: "d2" });
    const s1 = startBackend({ name: "s1" });
    const s2 = startBackend({ name: "s2" });
    const s3 = startBackend({ name: "s3" });
    // s3's /healthz fails: the pool's http check keeps it out, while the default pool checks tcp only.
    s3.healthz = 500;
    d2.healthz = 500;
    const node = await startNode({
      backends: [`127.0.0.1:${d1.port}`, `127.0.0.1:${d2.port}`],
      tables: `
[[pools]]
name = "sticky"
balance = "hash"
hash_key = "cookie:session"
[pools.health]
type = "http"
path = "/healthz"
interval = "30s"
fall = 3
[pools.passive]
max_fails = 2
ejection_time = "30s"
max_ejected_percent = 100
[[pools.backends]]
address = "127.0.0.1:${s1.port}"
weight = 3
[[pools.backends]]
address = "127.0.0.1:${s2.port}"
[[pools.backends]]
address = "127.0.0.1:${s3.port}"
[[routes]]
host = "sticky.example.com"
pool = "sticky"`,
    });
    cleanup.push(async () => {
      await node.stop(0);
      for (const b of [d1, d2, s1, s2, s3]) await b.stop();
    });
    const sticky = (session: string) => who(`${node.url}/`, { headers: { host: "sticky.example.com", cookie: `session=${session}` } });
    // Default pool: round-robin over both (tcp checks pass for d2 whatever its /healthz says).
    const names = new Set<string>();
    for (let i = 0; i < 4; i++) names.add(await who(`${node.url}/`));
    expect(names).toEqual(new Set(["d1", "d2"]));
    // Sticky: a session keeps its backend; s3 is down by the pool's http check; weights 3:1 over 200 sessions.
    const t: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const n = await sticky(`s${i}`);
      expect(await sticky(`s${i}`)).toBe(n);
      t[n] = (t[n] ?? 0) + 1;
    }
    expect(t.s3).toBeUndefined();
    expect(Math.abs(share(t, "s1") - 0.75)).toBeLessThan(0.1);
    type S = { pools: { name: string; balance: string; hash_key: string | null; passive: { max_fails: number } }[]; backends: { pool: string; status: string }[] };
    const s = (await (await fetch(`${node.adminUrl}/status`)).json()) as S;
    expect(s.pools.map((p) => [p.name, p.balance, p.hash_key, p.passive.max_fails])).toEqual([
      ["default", "round_robin", null, 0],
      ["sticky", "hash", "cookie:session", 2],
    ]);
    expect(s.backends.map((b) => `${b.pool} ${b.status}`)).toEqual(["default up", "default up", "sticky up", "sticky up", "sticky down"]);
    // The sticky pool's passive detection: s2 fails (its check too) and is ejected after 2 failures (its
    // next regular check is 30 s away).
    s2.failWith = 503;
    s2.healthz = 503;
    expect(t.s2).toBeGreaterThan(0);
    const ejected = () => node.health.pool("sticky")[1]!.ejectedUntil !== null;
    for (let i = 0; i < 200 && !ejected(); i++) await (await fetch(`${node.url}/`, { headers: { host: "sticky.example.com", cookie: `session=s${i}` } })).arrayBuffer();
    await until(ejected, 3000);
    expect(node.health.pool("sticky")[1]!.status).toBe("up");
    // Its sessions now go to s1; the others never moved.
    for (let i = 0; i < 40; i++) expect(await sticky(`s${i}`)).toBe("s1");
  }, 15_000);
});
