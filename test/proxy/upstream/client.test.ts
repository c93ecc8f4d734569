import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { Server, Socket, TCPSocketListener } from "bun";
import { UpstreamClient, UpstreamError, type UpstreamTarget } from "../../../src/proxy/upstream/client.ts";
import { until as untilHolds } from "../../helpers/wait.ts";

// ---- helpers ----

/** A raw TCP server that hands each complete request head (and what follows) to `onRequest`. */
interface RawConn {
  id: number;
  buf: Buffer;
  requests: number;
  closed: boolean;
}
interface RawServer {
  port: number;
  target: UpstreamTarget;
  /** Connections accepted so far. */
  conns: RawConn[];
  closedCount(): number;
  stop(): void;
}

function rawServer(onRequest: (s: Socket<RawConn>, head: string, c: RawConn) => void, onDrain?: (s: Socket<RawConn>) => void): RawServer {
  const conns: RawConn[] = [];
  const l: TCPSocketListener<RawConn> = Bun.listen<RawConn>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { id: conns.length, buf: Buffer.alloc(0), requests: 0, closed: false };
        conns.push(s.data);
      },
      data(s, d) {
        const c = s.data;
        c.buf = Buffer.concat([c.buf, d]);
        for (;;) {
          const end = c.buf.indexOf("\r\n\r\n");
          if (end < 0) return;
          const head = c.buf.subarray(0, end).toString("latin1");
          c.buf = c.buf.subarray(end + 4);
          c.requests++;
          onRequest(s, head, c);
        }
      },
      close(s) {
        s.data.closed = true;
      },
      drain(s) {
        onDrain?.(s);
      },
    },
  });
  return {
    port: l.port,
    target: { host: "127.0.0.1", port: l.port },
    conns,
    closedCount: () => conns.filter((c) => c.closed).length,
    stop: () => l.stop(true),
  };
}

const until = (cond: () => boolean, ms = 3000) => untilHolds(cond, ms, 5);

async function rejection(p: Promise<unknown>): Promise<UpstreamError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(UpstreamError);
    return e as UpstreamError;
  }
  throw new Error("expected a rejection");
}

function pattern(n: number, seed = 7): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** A body stream that yields `data` in pieces of `piece` bytes, counting what was pulled. */
function slowBody(data: Uint8Array, piece: number): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let off = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (off >= data.length) return c.close();
        c.enqueue(data.slice(off, off + piece));
        off += piece;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulled: () => off };
}

const never = new AbortController().signal;
const clients: UpstreamClient[] = [];
function newClient(opts: ConstructorParameters<typeof UpstreamClient>[0] = {}): UpstreamClient {
  const c = new UpstreamClient(opts);
  clients.push(c);
  return c;
}
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

// ---- against Bun.serve ----

describe("UpstreamClient against Bun.serve", () => {
  let server: Server<undefined>;
  let target: UpstreamTarget;
  const big = pattern(3 * 1024 * 1024 + 17);
  const ports = new Set<number>();

  beforeAll(() => {
    server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req, srv) {
        const ip = srv.requestIP(req); // null once the client has gone
        if (ip !== null) ports.add(ip.port);
        const url = new URL(req.url);
        switch (url.pathname) {
          case "/hello":
            return new Response(`hello ${req.method} ${url.search}`, { status: 201, statusText: "Made", headers: { "x-host": req.headers.get("host") ?? "" } });
          case "/cookies": {
            const h = new Headers({ "content-type": "text/plain" });
            h.append("set-cookie", "a=1; Path=/");
            h.append("set-cookie", "b=2; Path=/");
            return new Response("ok", { headers: h });
          }
          case "/big":
            return new Response(big);
          case "/big-stream": {
            let off = 0;
            return new Response(
              new ReadableStream({
                pull(c) {
                  if (off >= big.length) return c.close();
                  c.enqueue(big.slice(off, off + 100_000));
                  off += 100_000;
                },
              }),
            );
          }
          case "/echo": {
            const got = new Uint8Array(await req.arrayBuffer());
            return new Response(got, {
              headers: { "x-cl": req.headers.get("content-length") ?? "-", "x-te": req.headers.get("transfer-encoding") ?? "-" },
            });
          }
          case "/204":
            return new Response(null, { status: 204 });
          case "/304":
            return new Response(null, { status: 304, headers: { etag: '"x"' } });
          case "/headers":
            return Response.json(Object.fromEntries(req.headers));
        }
        return new Response("no", { status: 404 });
      },
    });
    target = { host: "127.0.0.1", port: server.port! };
  });
  afterAll(() => server.stop(true));

  test("status, reason, headers, repeated Set-Cookie, Host from the target", async () => {
    const c = newClient();
    const r = await c.request(target, "GET", "/hello?q=1", new Headers(), null, never);
    expect(r.status).toBe(201);
    expect(r.statusText).toBe("Created"); // Bun.serve sends the standard reason phrase
    expect(r.headers.get("x-host")).toBe(`127.0.0.1:${target.port}`);
    expect(await r.text()).toBe("hello GET ?q=1");
    const r2 = await c.request(target, "GET", "/cookies", new Headers({ host: "shop.example" }), null, never);
    expect(r2.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; Path=/"]);
    expect(await r2.text()).toBe("ok");
  });

  test("request headers pass through; framing fields are ours", async () => {
    const c = newClient();
    const h = new Headers({ "x-one": "1", accept: "text/plain", connection: "close", "transfer-encoding": "gzip" });
    const r = await c.request(target, "GET", "/headers", h, null, never);
    const seen = (await r.json()) as Record<string, string>;
    expect(seen["x-one"]).toBe("1");
    expect(seen.accept).toBe("text/plain");
    expect(seen.connection).not.toBe("close");
    expect(seen["transfer-encoding"]).toBeUndefined();
  });

  test("HEAD, 204 and 304 have no body; HEAD keeps the length", async () => {
    const c = newClient();
    const head = await c.request(target, "HEAD", "/big", new Headers(), null, never);
    expect(head.status).toBe(200);
    expect(head.body).toBeNull();
    expect(head.headers.get("content-length")).toBe(String(big.length));
    const r204 = await c.request(target, "GET", "/204", new Headers(), null, never);
    expect(r204.status).toBe(204);
    expect(r204.body).toBeNull();
    const r304 = await c.request(target, "GET", "/304", new Headers(), null, never);
    expect(r304.status).toBe(304);
    expect(r304.headers.get("etag")).toBe('"x"');
    // The connection stayed usable throughout.
    expect((await c.request(target, "GET", "/hello", new Headers(), null, never)).status).toBe(201);
    expect(c.stats().created).toBe(1);
  });

  for (const direct of [true, false]) {
    test(`3 MiB downloads arrive intact, by length and chunked (${direct ? "direct" : "queued"} body)`, async () => {
      const c = newClient({ directBody: direct });
      for (const path of ["/big", "/big-stream"]) {
        const r = await c.request(target, "GET", path, new Headers(), null, never);
        const got = new Uint8Array(await r.arrayBuffer());
        expect(got.length).toBe(big.length);
        expect(Bun.hash(got)).toBe(Bun.hash(big));
      }
      expect(c.stats()).toMatchObject({ created: 1, reused: 1 });
    });
  }

  test("uploads stream intact: Content-Length enforced, chunked when the length is unknown", async () => {
    const c = newClient();
    const data = pattern(2 * 1024 * 1024 + 3, 11);
    const r1 = await c.request(target, "POST", "/echo", new Headers({ "content-length": String(data.length) }), slowBody(data, 70_000).stream, never);
    expect(r1.headers.get("x-cl")).toBe(String(data.length));
    expect(Bun.hash(new Uint8Array(await r1.arrayBuffer()))).toBe(Bun.hash(data));
    const r2 = await c.request(target, "PUT", "/echo", new Headers(), slowBody(data, 5_000).stream, never);
    expect(r2.headers.get("x-te")).toBe("chunked");
    expect(Bun.hash(new Uint8Array(await r2.arrayBuffer()))).toBe(Bun.hash(data));
    // Empty bodies: a chunked terminator, and content-length: 0 for a POST without a body.
    const r3 = await c.request(target, "POST", "/echo", new Headers(), new Blob([]).stream(), never);
    expect((await r3.arrayBuffer()).byteLength).toBe(0);
    const r4 = await c.request(target, "POST", "/echo", new Headers(), null, never);
    expect(r4.headers.get("x-cl")).toBe("0");
    await r4.arrayBuffer();
    expect(c.stats().created).toBe(1);
  });

  test("a body shorter than its Content-Length fails as broken", async () => {
    const c = newClient();
    const e = await rejection(c.request(target, "POST", "/echo", new Headers({ "content-length": "10" }), new Blob(["abc"]).stream(), never));
    expect(e.failure).toBe("broken");
    expect(e.code).toBe("request_body_short");
  });

  test("the pool reuses connections: 50 sequential and 20×10 concurrent requests", async () => {
    const c = newClient();
    ports.clear();
    for (let i = 0; i < 50; i++) await (await c.request(target, "GET", "/hello", new Headers(), null, never)).text();
    expect(ports.size).toBe(1);
    expect(c.stats()).toMatchObject({ created: 1, reused: 49, open: 1, idle: 1 });
    ports.clear();
    for (let round = 0; round < 10; round++) {
      await Promise.all(Array.from({ length: 20 }, () => c.request(target, "GET", "/hello", new Headers(), null, never).then((r) => r.text())));
    }
    // The server saw at most the 20 concurrent connections (counted by source port).
    expect(ports.size).toBeLessThanOrEqual(20);
    expect(c.stats().created).toBeLessThanOrEqual(20);
  });

  test("maxConnsPerTarget caps open connections; the rest wait their turn", async () => {
    const c = newClient({ maxConnsPerTarget: 2 });
    ports.clear();
    const all = await Promise.all(Array.from({ length: 30 }, (_, i) => c.request(target, "GET", `/hello?${i}`, new Headers(), null, never).then((r) => r.text())));
    expect(all[29]).toBe("hello GET ?29");
    expect(ports.size).toBeLessThanOrEqual(2);
    expect(c.stats().created).toBe(2);
  });

  test("connection refused is a connect failure", async () => {
    const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = l.port;
    l.stop(true);
    const e = await rejection(newClient().request({ host: "127.0.0.1", port }, "GET", "/", new Headers(), null, never));
    expect(e.failure).toBe("connect");
    expect(e.code).toMatch(/ECONNREFUSED|ConnectionRefused/);
  });

  test("idle connections expire after idleTimeoutMs", async () => {
    const c = newClient({ idleTimeoutMs: 150 });
    await (await c.request(target, "GET", "/hello", new Headers(), null, never)).text();
    expect(c.stats().idle).toBe(1);
    await until(() => c.stats().open === 0);
  });
});

// ---- misbehaving servers ----

describe("UpstreamClient against raw servers", () => {
  const servers: RawServer[] = [];
  function raw(onRequest: Parameters<typeof rawServer>[0], onDrain?: Parameters<typeof rawServer>[1]): RawServer {
    const s = rawServer(onRequest, onDrain);
    servers.push(s);
    return s;
  }
  afterEach(() => {
    for (const s of servers.splice(0)) s.stop();
  });

  test("1xx interim responses are skipped", async () => {
    const s = raw((sock) => {
      sock.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n");
      setTimeout(() => sock.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), 10);
    });
    const r = await newClient().request(s.target, "GET", "/", new Headers(), null, never);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("ok");
  });

  test("chunked response with extensions and trailers; close-delimited response", async () => {
    const s = raw((sock, head) => {
      if (head.startsWith("GET /chunked")) {
        sock.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;a=b\r\nwiki\r\n");
        setTimeout(() => sock.write("5\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n"), 10);
      } else {
        sock.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ");
        setTimeout(() => sock.end("close"), 10);
      }
    });
    const c = newClient();
    const r1 = await c.request(s.target, "GET", "/chunked", new Headers(), null, never);
    expect(r1.headers.get("transfer-encoding")).toBeNull();
    expect(await r1.text()).toBe("wikipedia");
    const r2 = await c.request(s.target, "GET", "/close", new Headers(), null, never);
    expect(await r2.text()).toBe("until close");
    // Chunked kept the connection; close-delimited consumed it.
    expect(s.conns.length).toBe(1);
    await until(() => c.stats().open === 0);
  });

  test("Connection: close is honoured: the next request opens a new connection", async () => {
    const s = raw((sock, _head, conn) => {
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 1\r\n${conn.id === 0 ? "Connection: close\r\n" : ""}\r\n${conn.id}`);
    });
    const c = newClient();
    expect(await (await c.request(s.target, "GET", "/", new Headers(), null, never)).text()).toBe("0");
    expect(await (await c.request(s.target, "GET", "/", new Headers(), null, never)).text()).toBe("1");
    expect(await (await c.request(s.target, "GET", "/", new Headers(), null, never)).text()).toBe("1");
    expect(s.conns.length).toBe(2);
  });

  test("bytes after the end of a response: that connection is not reused", async () => {
    const s = raw((sock, _head, conn) => sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n${conn.id}GARBAGE`));
    const c = newClient();
    expect(await (await c.request(s.target, "GET", "/", new Headers(), null, never)).text()).toBe("0");
    expect(await (await c.request(s.target, "GET", "/", new Headers(), null, never)).text()).toBe("1");
    expect(s.conns.length).toBe(2);
  });

  test("an early answer to an upload that is not read: the response arrives, the connection is dropped", async () => {
    const s = raw((sock, head, conn) => {
      if (head.startsWith("POST")) {
        sock.pause(); // reads no more of the body
        sock.write("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n");
      } else sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n${conn.id}`);
    });
    const c = newClient();
    const data = pattern(32 * 1024 * 1024, 5);
    for (const headers of [new Headers({ "content-length": String(data.length) }), new Headers()]) {
      const r = await c.request(s.target, "POST", "/", headers, slowBody(data, 1024 * 1024).stream, never);
      expect(r.status).toBe(413);
    }
    expect(await (await c.request(s.target, "GET", "/", new Headers(), null, never)).text()).toBe("2");
    expect(s.conns.length).toBe(3);
  });

  test("a reused connection the server dropped is retried once on a fresh one", async () => {
    // Keep-alive on the first request, then close the connection when the next request arrives on it
    // without answering (the race with a server's idle timeout).
    const s = raw((sock, _head, conn) => {
      if (conn.requests === 1) sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n${conn.id}`);
      else sock.end();
    });
    const c = newClient();
    expect(await (await c.request(s.target, "GET", "/", new Headers(), null, never)).text()).toBe("0");
    expect(await (await c.request(s.target, "GET", "/", new Headers(), null, never)).text()).toBe("1");
    expect(s.conns.length).toBe(2);
    // A body that was not consumed yet can be replayed too.
    expect(await (await c.request(s.target, "DELETE", "/", new Headers(), null, never)).text()).toBe("2");
    expect(s.conns.length).toBe(3);
  });

  test("a fresh connection closed before the response is broken (no retry)", async () => {
    const s = raw((sock) => sock.end());
    const e = await rejection(newClient().request(s.target, "GET", "/", new Headers(), null, never));
    expect(e.failure).toBe("broken");
    expect(s.conns.length).toBe(1);
  });

  test("after a consumed body a dropped reused connection is not retried", async () => {
    const s = raw((sock, _head, conn) => {
      if (conn.requests === 1) sock.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
      else setTimeout(() => sock.end(), 30); // after the body has been taken
    });
    const c = newClient();
    await c.request(s.target, "GET", "/", new Headers(), null, never);
    const e = await rejection(c.request(s.target, "POST", "/", new Headers({ "content-length": "3" }), new Blob(["abc"]).stream(), never));
    expect(e.failure).toBe("broken");
    expect(s.conns.length).toBe(1);
  });

  test("closing mid-body errors the body stream as broken", async () => {
    const s = raw((sock) => {
      sock.write("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + "x".repeat(20_000));
      setTimeout(() => sock.end(), 20);
    });
    const r = await newClient().request(s.target, "GET", "/", new Headers(), null, never);
    const e = await rejection(r.arrayBuffer());
    expect(e.failure).toBe("broken");
    expect(e.code).toBe("truncated");
  });

  const bad: Array<[string, string, string]> = [
    ["CL and TE together", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "cl_and_te"],
    ["invalid Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello", "bad_content_length"],
    ["bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", "bad_chunk"],
    ["huge header", `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(40_000)}\r\nContent-Length: 0\r\n\r\n`, "header_too_large"],
    ["101 upgrade", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "upgrade_unsupported"],
    ["not HTTP", "SSH-2.0-OpenSSH_9.2\r\n\r\n", "bad_status_line"],
  ];
  for (const [name, response, code] of bad) {
    test(`refused as broken: ${name}`, async () => {
      const s = raw((sock) => sock.write(response));
      // Head errors reject the request; body errors (bad chunk) fail the body.
      const e = await rejection(newClient().request(s.target, "GET", "/", new Headers(), null, never).then((r) => r.arrayBuffer()));
      expect(e.failure).toBe("broken");
      expect(e.code).toBe(code);
      // The connection is not kept.
      await until(() => s.closedCount() === 1);
    });
  }

  test("a bad chunk mid-body errors the body stream", async () => {
    const s = raw((sock) => {
      sock.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
      setTimeout(() => sock.write("5\r\nworld!!\r\n"), 10);
    });
    const r = await newClient().request(s.target, "GET", "/", new Headers(), null, never);
    const e = await rejection(r.text());
    expect(e.code).toBe("bad_chunk");
    await until(() => s.closedCount() === 1);
  });

  test("abort before the response closes the upstream socket", async () => {
    const s = raw(() => {}); // never answers
    const ac = new AbortController();
    const c = newClient();
    const p = c.request(s.target, "GET", "/", new Headers(), null, ac.signal);
    await until(() => s.conns.length === 1 && s.conns[0]!.requests === 1);
    ac.abort();
    const e = await rejection(p);
    expect(e.code).toBe("aborted");
    expect(e.failure).toBe("broken"); // the request had been written
    await until(() => s.closedCount() === 1);
    expect(c.stats().open).toBe(0);
  });

  test("abort mid-body errors the body and closes the upstream socket", async () => {
    const s = raw((sock) => sock.write("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nabc"));
    const ac = new AbortController();
    const r = await newClient().request(s.target, "GET", "/", new Headers(), null, ac.signal);
    const reader = r.body!.getReader();
    expect((await reader.read()).value?.length).toBeGreaterThan(0);
    ac.abort();
    await expect(reader.read()).rejects.toBeInstanceOf(UpstreamError);
    await until(() => s.closedCount() === 1);
  });

  test("cancelling the body closes the upstream socket", async () => {
    const s = raw((sock) => sock.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"));
    const r = await newClient().request(s.target, "GET", "/", new Headers(), null, never);
    const reader = r.body!.getReader();
    await reader.read();
    await reader.cancel();
    await until(() => s.closedCount() === 1);
  });

  test("regression: a Content-Length the client cannot write was a connect failure (it is 'invalid', nothing opened)", async () => {
    const s = raw(() => {});
    const h = new Headers({ "content-length": "1234567890123456" });
    const e = await rejection(newClient().request(s.target, "POST", "/", h, new Blob(["abc"]).stream(), never));
    expect(e.failure).toBe("invalid");
    expect(e.code).toBe("bad_content_length");
    await Bun.sleep(20);
    expect(s.conns.length).toBe(0);
  });

  test("an already aborted signal rejects without connecting", async () => {
    const s = raw(() => {});
    const e = await rejection(newClient().request(s.target, "GET", "/", new Headers(), null, AbortSignal.abort()));
    // Nothing was sent, and not because of the server: retryable, but no sign of ill health.
    expect(e.failure).toBe("unsent");
    await Bun.sleep(20);
    expect(s.conns.length).toBe(0);
  });

  for (const direct of [true, false]) {
    test(`backpressure: a slow consumer stops the client reading the socket (${direct ? "direct" : "queued"} body)`, async () => {
      // The server offers 64 MiB as fast as the socket takes it; we read one chunk and stop.
      const total = 64 * 1024 * 1024;
      let accepted = 0;
      const piece = Buffer.alloc(256 * 1024, 0x61);
      const pump = (sock: Socket<RawConn>): void => {
        while (accepted < total) {
          const want = Math.min(piece.length, total - accepted);
          const n = sock.write(piece, 0, want);
          if (n > 0) accepted += n;
          if (n < want) return; // full: go on at the next drain
        }
      };
      const s = raw((sock) => {
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`);
        pump(sock);
      }, pump);
      const r = await newClient({ directBody: direct }).request(s.target, "GET", "/", new Headers(), null, never);
      const reader = r.body!.getReader();
      await reader.read();
      await Bun.sleep(800);
      // Loopback kernel buffers hold a few MiB; a client reading ahead would take 64 MiB in well under a second.
      expect(accepted).toBeLessThan(16 * 1024 * 1024);
      await reader.cancel();
    });
  }

  test("backpressure: a server that does not read stops the request body pump", async () => {
    const s = raw((sock) => sock.pause()); // takes the head, then reads nothing more
    const data = pattern(64 * 1024 * 1024, 3);
    const body = slowBody(data, 256 * 1024);
    const ac = new AbortController();
    const p = newClient().request(s.target, "POST", "/", new Headers(), body.stream, ac.signal);
    p.catch(() => {});
    await Bun.sleep(800);
    expect(body.pulled()).toBeLessThan(16 * 1024 * 1024);
    ac.abort();
  });
});
