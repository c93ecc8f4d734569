// The status page and its event stream on a real node with real backends, over loopback HTTP.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";
import { startNode, startTwoBackendsOneNode, type TestNode, type TwoBackendsOneNode, until } from "../helpers/node.ts";


interface Snapshot {
  t: number;
  node: string;
  backends: { address: string; status: string; last_check: string | null }[];
  members: { name: string; state: string; weight: number; self: boolean }[];
  traffic: { rps: number; error_ratio: number | null; total_requests: number; total_errors: number; p50_ms: number | null; history: { rps: number[] } };
}

/** Reads an SSE response and hands out its `data:` events one by one. */
function sseReader(res: Response) {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = "";
  const raw: string[] = [];
  return {
    raw,
    async next(timeoutMs = 5000): Promise<Snapshot> {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const end = buf.indexOf("\n\n");
        if (end >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          raw.push(block);
          const data = block
            .split("\n")
            .filter((l) => l.startsWith("data: "))
            .map((l) => l.slice(6))
            .join("\n");
          if (data) return JSON.parse(data) as Snapshot;
          continue;
        }
        const left = deadline - performance.now();
        if (left <= 0) throw new Error("no event in time");
        const r = await Promise.race([reader.read(), Bun.sleep(left).then(() => null)]);
        if (r === null) throw new Error("no event in time");
        if (r.done) throw new Error("stream ended");
        buf += dec.decode(r.value, { stream: true });
      }
    },
  };
}

let setup: TwoBackendsOneNode | undefined;
let a: BackendHandle;
let b: BackendHandle;
let node: TestNode;

beforeAll(async () => {
  setup = await startTwoBackendsOneNode({ name: "page-node" });
  ({ a, b, node } = setup);
});

afterAll(async () => {
  await setup?.stop(100);
});

describe("GET /", () => {
  test("a self-contained HTML page: no external URL, small, scripts allowed by hash only", async () => {
    const res = await fetch(`${node.adminUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).toStartWith("<!doctype html>");
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/\/\/[a-z0-9.-]+\.[a-z]{2,}/i); // no protocol-relative URLs either
    expect(html).not.toMatch(/<(script|link|img|iframe)[^>]+(src|href)="(?!data:)/i); // nothing loaded from elsewhere
    expect(html).not.toMatch(/@import|url\(/i);
    expect(new TextEncoder().encode(html).length).toBeLessThan(15 * 1024);
    // Data reaches the DOM as text only.
    expect(html).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    expect(html).toContain('name="viewport"');

    // The CSP allows exactly the inline script and style that are in the page.
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    const hash = (s: string) => `'sha256-${createHash("sha256").update(s).digest("base64")}'`;
    const script = html.match(/<script>([\s\S]*)<\/script>/)![1]!;
    const style = html.match(/<style>([\s\S]*)<\/style>/)![1]!;
    expect(csp).toContain(`script-src ${hash(script)}`);
    expect(csp).toContain(`style-src ${hash(style)}`);
    // The script at least parses.
    expect(() => new Function(script)).not.toThrow();
  });

  test("other admin routes still answer; unknown paths 404", async () => {
    expect((await fetch(`${node.adminUrl}/health`)).status).toBe(200);
    expect((await fetch(`${node.adminUrl}/nope`)).status).toBe(404);
    expect((await fetch(`${node.adminUrl}/`, { method: "POST" })).status).toBe(405);
  });
});

describe("GET /events", () => {
  test("streams a JSON snapshot at once and then once per second", async () => {
    // Some traffic first, including 5xx, so the traffic section has something to show.
    for (let i = 0; i < 10; i++) await (await fetch(`${node.url}${i < 2 ? "/status/500" : "/"}`)).text();
    const ac = new AbortController();
    const res = await fetch(`${node.adminUrl}/events`, { signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    const sse = sseReader(res);
    const first = await sse.next();
    const second = await sse.next(4000);
    ac.abort();
    expect(sse.raw[0]).toStartWith("retry: ");
    for (const s of [first, second]) {
      expect(s.node).toBe("page-node");
      expect(s.backends.map((x) => x.address).sort()).toEqual([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`].sort());
      expect(s.backends.every((x) => x.status === "up" && typeof x.last_check === "string")).toBe(true);
      expect(s.members).toHaveLength(1);
      expect(s.members[0]).toMatchObject({ name: "page-node", state: "alive", self: true, weight: 2 });
      expect(typeof s.traffic.rps).toBe("number");
      expect(Array.isArray(s.traffic.history.rps)).toBe(true);
    }
    // A tick apart (not a copy sent twice).
    expect(second.t).toBeGreaterThan(first.t);
    expect(second.traffic.total_requests).toBeGreaterThanOrEqual(10);
    expect(second.traffic.total_errors).toBeGreaterThanOrEqual(2);
    expect(second.traffic.error_ratio).not.toBeNull();
    expect(second.traffic.p50_ms).not.toBeNull();
  });

  test("one snapshot per tick is shared by all clients, not built per client", async () => {
    const ac = new AbortController();
    const readers = await Promise.all(
      [0, 1, 2, 3].map(async () => sseReader(await fetch(`${node.adminUrl}/events`, { signal: ac.signal }))),
    );
    await Promise.all(readers.map((r) => r.next())); // everyone has the current state
    const before = node.events.ticks;
    const got = await Promise.all(readers.map(async (r) => [await r.next(4000), await r.next(4000)]));
    const built = node.events.ticks - before;
    ac.abort();
    // 4 clients × 2 events = 8 deliveries from about 2 snapshots (3 if a tick boundary falls badly).
    expect(built).toBeGreaterThanOrEqual(1);
    expect(built).toBeLessThanOrEqual(3);
    // Clients saw the very same snapshot in the same tick.
    const ts = got.map((pair) => pair[1]!.t);
    expect(new Set(ts).size).toBeLessThanOrEqual(2);
  });

  test("a client that goes away is cleaned up and the ticker stops", async () => {
    await until(() => node.events.clientCount === 0, 3000);
    const acs = [new AbortController(), new AbortController()];
    const readers = await Promise.all(acs.map(async (ac) => sseReader(await fetch(`${node.adminUrl}/events`, { signal: ac.signal }))));
    await Promise.all(readers.map((r) => r.next()));
    expect(node.events.clientCount).toBe(2);
    acs[0]!.abort();
    await until(() => node.events.clientCount === 1, 3000);
    // The other one keeps streaming.
    await readers[1]!.next(4000);
    acs[1]!.abort();
    await until(() => node.events.clientCount === 0, 3000);
    // No listener: no snapshots are built.
    const ticks = node.events.ticks;
    await Bun.sleep(1300);
    expect(node.events.ticks).toBe(ticks);
  });

  test("a node stopping ends the open streams", async () => {
    const c = startBackend({ name: "c" });
    const n = await startNode({ backends: [`127.0.0.1:${c.port}`], name: "short-lived" });
    try {
      const sse = sseReader(await fetch(`${n.adminUrl}/events`));
      await sse.next();
      expect(n.events.clientCount).toBe(1);
      await n.stop(100);
      expect(n.events.clientCount).toBe(0);
      await expect(sse.next(3000)).rejects.toThrow();
    } finally {
      await n.stop(100);
      await c.stop();
    }
  });
});
