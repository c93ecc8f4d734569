// EventHub on its own listener with short timings: heartbeats, client limit, HEAD, a failing
// snapshot, and a client that stops reading.
import { afterEach, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { EventHub, type EventHubOptions } from "../../src/admin/events.ts";
import { until } from "../helpers/node.ts";

let server: Server<undefined> | undefined;
let hub: EventHub | undefined;

function serve(opts: EventHubOptions): string {
  hub = new EventHub(opts);
  const h = hub;
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    fetch: (req) => h.respond(req),
  });
  return `http://127.0.0.1:${server.port}/events`;
}

afterEach(async () => {
  hub?.close();
  await server?.stop(true);
  hub = undefined;
  server = undefined;
});

/** Reads raw text from a stream until `done(text)` or the deadline. */
async function readUntil(res: Response, done: (text: string) => boolean, timeoutMs = 3000): Promise<string> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = "";
  const deadline = performance.now() + timeoutMs;
  while (!done(text)) {
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`not seen in time; got: ${text.slice(0, 300)}`);
    const r = await Promise.race([reader.read(), Bun.sleep(left).then(() => null)]);
    if (r === null || r.done) continue;
    text += dec.decode(r.value, { stream: true });
  }
  await reader.cancel();
  return text;
}

describe("EventHub", () => {
  test("sends heartbeat comments between data events", async () => {
    let n = 0;
    const url = serve({ snapshot: () => ({ n: n++ }), intervalMs: 50, heartbeatMs: 200 });
    const text = await readUntil(await fetch(url), (t) => /^: heartbeat/m.test(t) && /data: \{"n":\d+\}\n\n[\s\S]*: heartbeat/.test(t));
    expect(text).toStartWith("retry: 2000\n\n");
    expect(text).toMatch(/^data: \{"n":0\}$/m);
    await until(() => hub!.clientCount === 0, 2000);
  });

  test("refuses clients past the limit; HEAD registers nobody", async () => {
    const url = serve({ snapshot: () => ({}), maxClients: 2 });
    const ac = new AbortController();
    const r1 = await fetch(url, { signal: ac.signal });
    const r2 = await fetch(url, { signal: ac.signal });
    expect([r1.status, r2.status]).toEqual([200, 200]);
    await until(() => hub!.clientCount === 2, 2000);
    const r3 = await fetch(url);
    expect(r3.status).toBe(503);
    expect(r3.headers.get("retry-after")).toBe("10");
    ac.abort();
    await until(() => hub!.clientCount === 0, 2000);
    const head = await fetch(url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toStartWith("text/event-stream");
    expect(hub!.clientCount).toBe(0);
  });

  test("a snapshot that throws becomes an error event; the stream goes on", async () => {
    let calls = 0;
    const url = serve({
      snapshot: () => {
        if (++calls === 1) throw new Error("boom");
        return { ok: calls };
      },
      intervalMs: 50,
      logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; }, enabled: () => false },
    });
    const text = await readUntil(await fetch(url), (t) => t.includes('"ok"'));
    expect(text).toContain('data: {"error":"snapshot failed"}');
  });

  test("a client that stops reading is dropped instead of queueing without bound", async () => {
    // Big events, fast: the socket buffers fill, then the stream's own queue grows.
    const big = "x".repeat(256 * 1024);
    const url = serve({ snapshot: () => ({ big }), intervalMs: 10, maxQueued: 4 });
    const res = await fetch(url);
    expect(res.status).toBe(200);
    // Never read the body.
    await until(() => hub!.clientCount === 1, 2000);
    await until(() => hub!.clientCount === 0, 10_000, 50);
    await res.body?.cancel().catch(() => {});
  }, 15_000);
});
