import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { gzipSync } from "node:zlib";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";
import { deadPort, startNode, startTwoBackendsOneNode, type TwoBackendsOneNode, until } from "../helpers/node.ts";
import { UNRESOLVABLE_HOST } from "../helpers/dns.ts";

type Node = Awaited<ReturnType<typeof startNode>>;

/** Sends raw bytes and returns the first response line (for protocol-hygiene tests). */
function rawRequest(port: number, data: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1", () => s.write(data));
    let out = "";
    s.on("data", (d) => {
      out += d.toString();
      if (out.includes("\r\n")) s.destroy();
    });
    s.on("close", () => resolve(out.split("\r\n")[0] ?? ""));
    s.on("error", () => resolve(out.split("\r\n")[0] ?? ""));
  });
}

describe("proxy over two healthy backends", () => {
  let setup: TwoBackendsOneNode;
  let a: BackendHandle;
  let b: BackendHandle;
  let node: Node;

  beforeAll(async () => {
    setup = await startTwoBackendsOneNode();
    ({ a, b, node } = setup);
  });
  afterAll(() => setup.stop());

  test("round-robin alternates between backends", async () => {
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await fetch(`${node.url}/`);
      seen.push(r.headers.get("x-backend")!);
      await r.text();
    }
    expect(seen[0]).not.toBe(seen[1]);
    for (let i = 2; i < 6; i++) expect(seen[i]).toBe(seen[i - 2]!);
  });

  test("hop-by-hop headers are stripped, forwarding headers added, Host kept", async () => {
    const r = await fetch(`${node.url}/headers`, {
      headers: {
        host: "shop.example",
        connection: "x-secret, keep-alive",
        "x-secret": "hop",
        "keep-alive": "timeout=5",
        te: "trailers",
        "proxy-authorization": "Basic eA==",
        "x-forwarded-for": "203.0.113.7",
        via: "1.0 corporate-proxy",
        "x-clusterclub-no-backend": "1",
      },
    });
    const { headers: h } = (await r.json()) as { headers: Record<string, string> };
    expect(h.host).toBe("shop.example");
    expect(h["x-secret"]).toBeUndefined();
    expect(h["keep-alive"]).toBeUndefined();
    expect(h.te).toBeUndefined();
    expect(h["proxy-authorization"]).toBeUndefined();
    expect(h["x-clusterclub-no-backend"]).toBeUndefined();
    expect(h["x-forwarded-for"]).toBe("203.0.113.7, 127.0.0.1");
    expect(h["x-forwarded-proto"]).toBe("http");
    expect(h["x-forwarded-host"]).toBe("shop.example");
    expect(h.via).toBe("1.0 corporate-proxy, 1.1 test-node");
  });

  test("every Set-Cookie reaches the client separately", async () => {
    const r = await fetch(`${node.url}/cookies`);
    expect(r.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; Path=/"]);
  });

  test("upstream status codes pass through (no 500 for upstream answers)", async () => {
    for (const code of [201, 302, 404, 500, 503]) {
      const r = await fetch(`${node.url}/status/${code}`, { redirect: "manual" });
      expect(r.status).toBe(code);
      await r.text();
    }
  });

  test("compressed bytes pass through untouched", async () => {
    const gz = gzipSync(Buffer.from("x".repeat(10_000)));
    const up = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: () => new Response(gz, { headers: { "content-encoding": "gzip", "content-type": "text/plain" } }),
    });
    const n = await startNode({ backends: [`127.0.0.1:${up.port}`] });
    try {
      const r = await fetch(`${n.url}/`, { decompress: false } as RequestInit);
      expect(r.headers.get("content-encoding")).toBe("gzip");
      expect(new Uint8Array(await r.arrayBuffer())).toEqual(new Uint8Array(gz));
    } finally {
      await n.stop(0);
      await up.stop(true);
    }
  });

  test("a 4 MiB body is echoed back intact, streamed both ways", async () => {
    const data = new Uint8Array(4 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= data.length) return c.close();
        c.enqueue(data.subarray(sent, sent + 100_000));
        sent += 100_000;
      },
    });
    const r = await fetch(`${node.url}/echo`, { method: "POST", body, duplex: "half" } as RequestInit);
    const back = new Uint8Array(await r.arrayBuffer());
    expect(back.length).toBe(data.length);
    expect(Bun.hash(back)).toBe(Bun.hash(data));
  });

  test("server-sent events reach the client chunk by chunk", async () => {
    const r = await fetch(`${node.url}/sse?n=4&ms=150`);
    const reader = r.body!.getReader();
    const t0 = performance.now();
    const first = await reader.read();
    const firstAt = performance.now() - t0;
    let rest = 0;
    while (!(await reader.read()).done) rest++;
    const total = performance.now() - t0;
    expect(new TextDecoder().decode(first.value)).toStartWith("data: 0");
    expect(rest).toBeGreaterThanOrEqual(1);
    // The first event must not wait for the whole stream (3 × 150 ms).
    expect(firstAt).toBeLessThan(total - 300);
  });

  test("a client abort reaches the backend", async () => {
    const before = a.aborted + b.aborted;
    const ac = new AbortController();
    const p = fetch(`${node.url}/hang`, { signal: ac.signal }).catch(() => "aborted");
    await until(() => (a.hits.get("/hang") ?? 0) + (b.hits.get("/hang") ?? 0) > 0);
    ac.abort();
    expect(await p).toBe("aborted");
    await until(() => a.aborted + b.aborted > before);
  });

  test("protocol hygiene: oversized headers 431, CL+TE 400", async () => {
    expect(await rawRequest(node.proxy.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(100_000)}\r\n\r\n`)).toContain("431");
    expect(
      await rawRequest(node.proxy.port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ).toContain("400");
  });

  test("admin API: /health, /status, /metrics", async () => {
    expect((await fetch(`${node.adminUrl}/health`)).status).toBe(200);
    const s = (await (await fetch(`${node.adminUrl}/status`)).json()) as {
      node: string;
      version: string;
      uptime_s: number;
      backends: { address: string; healthy: boolean; last_check: string; failures: number }[];
    };
    expect(s.node).toBe("test-node");
    expect(s.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(s.backends.map((x) => x.address).sort()).toEqual([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`].sort());
    expect(s.backends.every((x) => x.healthy && typeof x.last_check === "string")).toBe(true);
    const m = await (await fetch(`${node.adminUrl}/metrics`)).text();
    expect(m).toContain(`clusterclub_requests_total{pool="default",target="127.0.0.1:${a.port}",protocol="1.1",class="2xx"}`);
    expect(m).toContain("clusterclub_upstream_response_seconds_bucket");
    expect(m).toContain(`clusterclub_healthy_backends{pool="default"} 2`);
    expect(m).toContain("clusterclub_health_transitions_total");
    expect((await fetch(`${node.adminUrl}/nope`)).status).toBe(404);
  });
});

describe("limits and timeouts", () => {
  test("a body over max_body_bytes gets 413", async () => {
    const a = startBackend();
    const node = await startNode({ backends: [`127.0.0.1:${a.port}`], proxy: "max_body_bytes = 1000" });
    try {
      const r = await fetch(`${node.url}/echo`, { method: "POST", body: "x".repeat(5000) });
      expect(r.status).toBe(413);
      const ok = await fetch(`${node.url}/echo`, { method: "POST", body: "x".repeat(500) });
      expect(ok.status).toBe(200);
      expect((await ok.text()).length).toBe(500);
    } finally {
      await node.stop(0);
      await a.stop();
    }
  });

  test("no response headers within response_timeout gives 504 with a request id", async () => {
    const a = startBackend();
    const node = await startNode({ backends: [`127.0.0.1:${a.port}`], proxy: 'response_timeout = "200ms"' });
    try {
      const r = await fetch(`${node.url}/slow/2000`);
      expect(r.status).toBe(504);
      expect(r.headers.get("x-request-id")).toBeTruthy();
      expect(await r.text()).toContain("request id");
    } finally {
      await node.stop(0);
      await a.stop();
    }
  });
});

describe("failover and health", () => {
  test("all backends down at start: 503 with Retry-After, never 500", async () => {
    const node = await startNode({ backends: [`127.0.0.1:${deadPort()}`, `127.0.0.1:${deadPort()}`] });
    try {
      const r = await fetch(`${node.url}/`);
      expect(r.status).toBe(503);
      expect(r.headers.get("retry-after")).toBeTruthy();
      expect(r.headers.get("x-clusterclub-no-backend")).toBeNull();
      expect(await r.text()).toMatch(/^503 .*request id/);
    } finally {
      await node.stop(0);
    }
  });

  test("a refused backend is marked down at once and the request retried elsewhere, even a POST", async () => {
    // Slow checks: only passive health can notice within this test.
    const setup = await startTwoBackendsOneNode({ health: "" });
    const { a, node } = setup;
    try {
      await a.stop();
      for (let i = 0; i < 4; i++) {
        const r = await fetch(`${node.url}/echo`, { method: "POST", body: `payload ${i}` });
        expect(r.status).toBe(200);
        expect(await r.text()).toBe(`payload ${i}`);
      }
      const s = (await (await fetch(`${node.adminUrl}/status`)).json()) as { backends: { address: string; healthy: boolean }[] };
      expect(s.backends.find((x) => x.address === `127.0.0.1:${a.port}`)!.healthy).toBe(false);
    } finally {
      await setup.stop();
    }
  });

  test("regression: a streamed (chunked) upload is replayed to the next backend after a connect failure", async () => {
    const setup = await startTwoBackendsOneNode({ health: 'interval = "30s"' });
    const { a, node } = setup;
    try {
      await a.stop();
      for (let i = 0; i < 4; i++) {
        const parts = [`part one of ${i};`, "part two;", "part three"];
        const body = new ReadableStream<Uint8Array>({
          pull(c) {
            const p = parts.shift();
            if (p === undefined) c.close();
            else c.enqueue(new TextEncoder().encode(p));
          },
        });
        const r = await fetch(`${node.url}/echo`, { method: "POST", body, duplex: "half" } as RequestInit);
        expect(r.status).toBe(200);
        expect(await r.text()).toBe(`part one of ${i};part two;part three`);
      }
    } finally {
      await setup.stop();
    }
  });

  test("killing one of two backends mid-load loses no request; it recovers after rise checks", async () => {
    const a = startBackend({ name: "a" });
    const b = startBackend({ name: "b" });
    const aPort = a.port;
    const node = await startNode({ backends: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`], health: 'interval = "100ms"\ntimeout = "100ms"\nrise = 2\nfall = 1' });
    let failures = 0;
    let done = 0;
    let stop = false;
    const worker = async () => {
      while (!stop) {
        try {
          const r = await fetch(`${node.url}/`);
          await r.text();
          if (r.status !== 200) failures++;
        } catch {
          failures++;
        }
        done++;
      }
    };
    try {
      const workers = Array.from({ length: 8 }, worker);
      await until(() => done > 200);
      await a.stop();
      const killedAt = done;
      await until(() => done > killedAt + 400);
      // Bring it back on the same port; the checker needs `rise` passes.
      const a2 = startBackend({ name: "a2", port: aPort });
      await until(async () => {
        const s = (await (await fetch(`${node.adminUrl}/status`)).json()) as { healthy_backends: number };
        return s.healthy_backends === 2;
      });
      const before = a2.total;
      await until(() => a2.total > before + 20);
      stop = true;
      await Promise.all(workers);
      expect(failures).toBe(0);
      await a2.stop();
    } finally {
      stop = true;
      await node.stop(0);
      await b.stop();
    }
  });

  test("a hostname backend that does not resolve is down, not a crash", async () => {
    const a = startBackend();
    // The config file only takes names that fit in a DNS query (which would leave the machine); this one
    // cannot be encoded, so its lookup fails locally (helpers/dns.ts).
    const node = await startNode({
      backends: ["placeholder.invalid:80", `127.0.0.1:${a.port}`],
      configure: (c) => {
        c.backends[0] = { address: `${UNRESOLVABLE_HOST}:80`, host: UNRESOLVABLE_HOST, port: 80, weight: 1 };
      },
    });
    try {
      for (let i = 0; i < 3; i++) expect((await fetch(`${node.url}/`)).status).toBe(200);
      const s = (await (await fetch(`${node.adminUrl}/status`)).json()) as { backends: { healthy: boolean }[] };
      expect(s.backends[0]!.healthy).toBe(false);
    } finally {
      await node.stop(0);
      await a.stop();
    }
  });
});
