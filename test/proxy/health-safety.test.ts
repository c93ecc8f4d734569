// Nothing a client sends may change a backend's health: only an active check, or a socket that could not
// be opened, marks a backend down. Each request below is odd but parseable; it is sent several times to a
// node whose two backends are healthy and whose checks are slow (30 s, rise 2), so a backend marked down
// by a request would stay down for the rest of the file. Passive outlier detection is on, as eager as it
// gets (2 failures, any share of the pool): gateway errors and timeouts a client provokes must not eject
// a backend whose check passes. Regression tests are named after the bug.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";
import { deadPort, FAST_GOSSIP, startNode, until } from "../helpers/node.ts";

type TestNode = Awaited<ReturnType<typeof startNode>>;

const SLOW_HEALTH =
  'interval = "30s"\ntimeout = "1s"\nrise = 2\nfall = 3\ntype = "http"\npath = "/healthz"\nmax_fails = 2\nfail_window = "30s"\nejection_time = "30s"\nmax_ejected_percent = 100';
/** A client can make the backend take longer than this (/slow/1500): the node's own 504. */
const PROXY = 'response_timeout = "1s"';
const REPEAT = 3;

let b1: BackendHandle;
let b2: BackendHandle;
let b3: BackendHandle;
let node: TestNode;
/** A node with no healthy backend of its own: everything it gets goes to `peer` (one hop). */
let entry: TestNode;
let peer: TestNode;
const statuses: number[] = [];

beforeAll(async () => {
  b1 = startBackend({ name: "hs-a" });
  b2 = startBackend({ name: "hs-b" });
  b3 = startBackend({ name: "hs-c", hostname: "127.0.0.51" });
  node = await startNode({ name: "hs-node", backends: [`127.0.0.1:${b1.port}`, `127.0.0.1:${b2.port}`], health: SLOW_HEALTH, proxy: PROXY });
  peer = await startNode({ name: "hs-peer", bind: "127.0.0.51", backends: [`127.0.0.51:${b3.port}`], health: SLOW_HEALTH, proxy: PROXY, cluster: FAST_GOSSIP });
  entry = await startNode({
    name: "hs-entry",
    bind: "127.0.0.50",
    // Its one backend is dead from the start (a node needs one): every request is forwarded to the peer.
    backends: [`127.0.0.50:${deadPort()}`],
    health: SLOW_HEALTH,
    proxy: PROXY,
    cluster: `peers = ["127.0.0.51:${peer.cluster!.port}"]\n${FAST_GOSSIP}`,
  });
  await until(() => (entry.router.pool("default")?.weightOf("hs-peer") ?? 0) > 0, 10_000);
});

afterAll(async () => {
  for (const n of [entry, peer, node]) await n?.stop();
  for (const b of [b1, b2, b3]) await b?.stop();
});

/** Every backend of `n` is up, per /status (what operators and the CLI read). */
async function allUp(n: TestNode): Promise<void> {
  type S = { backends: { address: string; status: string; last_error: string | null; ejected: boolean }[] };
  const s = (await (await fetch(`${n.adminUrl}/status`)).json()) as S;
  for (const b of s.backends) {
    expect({ address: b.address, status: b.status, last_error: b.last_error, ejected: b.ejected }).toEqual({ address: b.address, status: "up", last_error: null, ejected: false });
  }
}

/** Health transitions and passive ejections counted by /metrics since start. */
async function transitions(n: TestNode): Promise<number> {
  const text = await (await fetch(`${n.adminUrl}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^clusterclub_(?:health_transitions|backend_ejections)_total\{[^}]*\} (\d+)$/gm)) sum += Number(m[1]);
  return sum;
}

interface RawAnswer {
  status: number | null;
  text: string;
}

/**
 * Raw bytes on a fresh connection to `n`'s proxy port. `cut` closes the connection once the given
 * number of response bytes arrived (0: right after writing), like a client that vanishes.
 */
async function raw(n: TestNode, bytes: string | Uint8Array, opts: { cut?: number; waitMs?: number } = {}): Promise<RawAnswer> {
  let text = "";
  let closed = false;
  const url = new URL(n.url);
  const sock = await Bun.connect({
    hostname: url.hostname,
    port: Number(url.port),
    socket: {
      data(_s, d) {
        text += Buffer.from(d).toString("latin1");
      },
      close() {
        closed = true;
      },
      error() {},
    },
  });
  sock.write(bytes);
  if (opts.cut === 0) {
    await Bun.sleep(20);
    sock.terminate();
    return { status: null, text };
  }
  const deadline = performance.now() + (opts.waitMs ?? 3000);
  const complete = (): boolean => {
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) return false;
    const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
    return text.length >= end + 4 + len;
  };
  while (!closed && performance.now() < deadline) {
    if (opts.cut !== undefined && text.length >= opts.cut) break;
    if (opts.cut === undefined && complete()) break;
    await Bun.sleep(5);
  }
  sock.terminate();
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(text);
  const status = m ? Number(m[1]) : null;
  if (status !== null) statuses.push(status);
  return { status, text };
}

const H = "Host: app.example\r\n";
const WS_KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

interface Probe {
  name: string;
  send(n: TestNode): Promise<RawAnswer>;
  /** Expected status when the node answers (null: the client left first). */
  expect?: number | ((s: number | null) => boolean);
}

const CORPUS: Probe[] = [
  {
    name: "regression: a 16-digit Content-Length marked every backend down (bad_content_length)",
    send: (n) => raw(n, `POST /echo HTTP/1.1\r\n${H}Content-Length: 1234567890123456\r\n\r\nabc`),
    expect: 400,
  },
  {
    name: "a zero-padded Content-Length is admitted and forwarded",
    send: (n) => raw(n, `POST /echo HTTP/1.1\r\n${H}Content-Length: 0000000005\r\n\r\nhello`),
    expect: 200,
  },
  {
    name: "a Content-Length of 15 nines (valid, never sent) ends when the client leaves",
    send: (n) => raw(n, `POST /sink HTTP/1.1\r\n${H}Content-Length: 999999999999999\r\n\r\nabc`, { cut: 0 }),
  },
  {
    name: "regression: a WebSocket upgrade the backend refused (200) marked every backend down",
    send: (n) => raw(n, `GET / HTTP/1.1\r\n${H}Upgrade: websocket\r\nConnection: Upgrade\r\n${WS_KEY}Sec-WebSocket-Version: 13\r\n\r\n`),
    expect: 502,
  },
  {
    name: "a WebSocket upgrade to a path the backend answers 404",
    send: (n) => raw(n, `GET /status/404 HTTP/1.1\r\n${H}Upgrade: websocket\r\nConnection: Upgrade\r\n${WS_KEY}Sec-WebSocket-Version: 13\r\n\r\n`),
    expect: 502,
  },
  {
    name: "a malformed WebSocket upgrade (no key)",
    send: (n) => raw(n, `GET /ws HTTP/1.1\r\n${H}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n`),
    expect: (s) => s !== null && s >= 400 && s < 500,
  },
  {
    name: "a WebSocket upgrade with an unknown version",
    send: (n) => raw(n, `GET /ws HTTP/1.1\r\n${H}Upgrade: websocket\r\nConnection: Upgrade\r\n${WS_KEY}Sec-WebSocket-Version: 99\r\n\r\n`),
    expect: (s) => s !== null && s !== 500,
  },
  {
    name: "an 8 KiB path",
    send: (n) => raw(n, `GET /${"p".repeat(8 * 1024)} HTTP/1.1\r\n${H}\r\n`),
    expect: (s) => s !== null && s !== 500,
  },
  {
    name: "odd method tokens",
    send: async (n) => {
      let last: RawAnswer = { status: null, text: "" };
      // Bun.serve knows registered methods (M-SEARCH, PROPFIND), answers 400 to some unknown tokens and
      // closes on others (BREW): any of those is fine, as long as no backend pays for it.
      for (const m of ["M-SEARCH", "PROPFIND", "X.Y~Z", "BREW"]) {
        last = await raw(n, `${m} / HTTP/1.1\r\n${H}\r\n`);
        expect(last.status).not.toBe(500);
      }
      return last;
    },
  },
  {
    name: "obs-text in a header value",
    send: (n) => raw(n, Buffer.from(`GET / HTTP/1.1\r\n${H}X-Name: caf\xe9 \xff\r\n\r\n`, "latin1")),
    expect: (s) => s !== null && s !== 500,
  },
  {
    name: "a Transfer-Encoding other than chunked",
    send: (n) => raw(n, `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\nabc`),
    expect: (s) => s !== null && s >= 400 && s < 500,
  },
  {
    name: "a client vanishing mid-upload (Content-Length)",
    send: (n) => raw(n, `POST /sink HTTP/1.1\r\n${H}Content-Length: 1000000\r\n\r\n${"x".repeat(50_000)}`, { cut: 0 }),
  },
  {
    name: "a client vanishing mid-upload (chunked)",
    send: (n) => raw(n, `POST /sink HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n1000\r\n${"y".repeat(4096)}\r\n`, { cut: 0 }),
  },
  {
    name: "an aborted download",
    send: (n) => raw(n, `GET /bytes/50000000 HTTP/1.1\r\n${H}\r\n`, { cut: 1 }),
  },
  {
    name: "a client leaving before the response headers",
    send: (n) => raw(n, `GET /slow/300 HTTP/1.1\r\n${H}\r\n`, { cut: 0 }),
  },
  // Passive outlier evidence a client alone can produce: the confirming check passes, nothing is ejected.
  ...[502, 503, 504].map((code) => ({
    name: `the application answers ${code} to the path the client chose`,
    send: (n: TestNode) => raw(n, `GET /status/${code} HTTP/1.1\r\n${H}\r\n`),
    expect: code,
  })),
  {
    name: "a request the backend takes longer than response_timeout to answer (the node's 504)",
    send: (n) => raw(n, `GET /slow/1500 HTTP/1.1\r\n${H}\r\n`),
    expect: 504,
  },
];

async function runCorpus(target: TestNode, watched: TestNode[]): Promise<void> {
  const before = await Promise.all(watched.map(transitions));
  for (const probe of CORPUS) {
    for (let i = 0; i < REPEAT; i++) {
      const a = await probe.send(target);
      const e = probe.expect;
      if (typeof e === "number") expect({ probe: probe.name, status: a.status }).toEqual({ probe: probe.name, status: e });
      else if (e) expect({ probe: probe.name, ok: e(a.status), status: a.status }).toEqual({ probe: probe.name, ok: true, status: a.status });
    }
    // Passive marks are synchronous with the failed attempt; let the node finish any in flight.
    await Bun.sleep(30);
    for (const n of watched) await allUp(n);
    expect({ probe: probe.name, transitions: await Promise.all(watched.map(transitions)) }).toEqual({ probe: probe.name, transitions: before });
  }
  expect(statuses).not.toContain(500);
}

describe("hostile input never changes a backend's health", () => {
  test("against a node with two healthy backends", async () => {
    await allUp(node);
    await runCorpus(node, [node]);
    // Still serving both backends afterwards.
    const names = new Set<string>();
    for (let i = 0; i < 4; i++) names.add(await (await fetch(`${node.url}/`)).text());
    expect(names.size).toBe(2);
  }, 60_000);

  test("through a peer: the peer node's backends stay up and the entry node keeps routing to it", async () => {
    await allUp(peer);
    await runCorpus(entry, [peer]);
    // The peer is still alive with its weight at the entry node, and ordinary requests still reach it.
    expect(entry.router.pool("default")?.weightOf("hs-peer")).toBe(1);
    const r = await fetch(`${entry.url}/`);
    expect(r.status).toBe(200);
    expect(await r.text()).toContain("hs-c");
  }, 60_000);

  test("a backend whose socket cannot be opened is still marked down at once", async () => {
    const lone = startBackend({ name: "hs-lone" });
    const n = await startNode({ name: "hs-lone-node", backends: [`127.0.0.1:${lone.port}`], health: SLOW_HEALTH });
    try {
      await allUp(n);
      await lone.stop();
      const r = await fetch(`${n.url}/`);
      expect(r.status).toBe(502);
      expect(n.health.backends()[0]?.status).toBe("down");
      expect(n.health.backends()[0]?.lastError).toMatch(/ECONNREFUSED|ConnectionRefused/);
    } finally {
      await n.stop();
    }
  });
});
