// The access log: its line formats, its writer (buffered, O_APPEND, reopen, lost lines counted), a node
// writing it, and node processes with two workers reopening its file on SIGUSR1 (logrotate's
// move-then-signal) and counting the lines a full disk lost in /metrics.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AccessRecord, combinedLine, jsonLine, type LineEncoder, lineBound } from "../../src/accesslog/format.ts";
import { AccessLog } from "../../src/accesslog/index.ts";
import { AccessLogWriter } from "../../src/accesslog/writer.ts";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";
import { freePort, startNode, type TestNode, until } from "../helpers/node.ts";

const MAIN = join(import.meta.dir, "../../src/main.ts");
const FIELDS = ["time", "client_ip", "method", "path", "protocol", "status", "bytes_in", "bytes_out", "duration_ms", "pool", "node", "backend", "attempts", "request_id"];

/** Queues one line of text through the writer's reserve/commit (UTF-8 takes at most 3 bytes per UTF-16 unit). */
function writeLine(w: AccessLogWriter, line: string): void {
  if (w.reserve(line.length * 3)) w.commit(w.at + w.buf.write(line, w.at));
}

const tmp = () => mkdtempSync(join(tmpdir(), "cc-access-"));
const lines = (path: string) => readFileSync(path, "utf8").split("\n").filter((l) => l !== "");

/** A line as text, encoded into a buffer of exactly lineBound()'s size (an overrun would throw). */
function text(encode: LineEncoder, r: AccessRecord, now: number): string {
  const buf = Buffer.alloc(lineBound(r));
  return buf.toString("utf8", 0, encode(r, now, buf, 0));
}

const rec: AccessRecord = {
  clientIp: "198.18.0.7",
  method: "GET",
  path: '/a b"c\\d?x=1',
  protocol: "HTTP/1.1",
  status: 200,
  bytesIn: 0,
  bytesOut: 15,
  durationMs: 1.23456,
  pool: "default",
  node: "n1",
  backend: "127.0.0.1:3001",
  attempts: 1,
  requestId: "ab12-3",
  requestSeq: -1,
  referer: null,
  userAgent: 'curl/8 "x"',
};

describe("line formats", () => {
  test("json: one object per line with every field, client strings escaped", () => {
    const o = JSON.parse(text(jsonLine, rec, Date.UTC(2026, 0, 2, 3, 4, 5, 6))) as Record<string, unknown>;
    expect(Object.keys(o)).toEqual(FIELDS);
    expect(o).toMatchObject({ time: "2026-01-02T03:04:05.006Z", path: rec.path, status: 200, bytes_in: 0, bytes_out: 15, duration_ms: 1.235, attempts: 1 });
    expect(JSON.parse(text(jsonLine, { ...rec, bytesIn: -1, bytesOut: -1 }, 0))).toMatchObject({ bytes_in: null, bytes_out: null });
  });

  test("json: the time is toISOString's at every millisecond, across second, day and year ends, back and forth", () => {
    const at = (t: number) => (JSON.parse(text(jsonLine, rec, t)) as Record<string, unknown>).time;
    // The second's text is made once and reused: a line must not carry the previous second's, whichever way the clock moved.
    const times = [Date.UTC(2026, 11, 31, 23, 59, 58, 990), Date.UTC(2026, 11, 31, 23, 59, 59, 995), Date.UTC(2027, 0, 1, 0, 0, 0, 0), Date.UTC(2026, 11, 31, 23, 59, 59, 999)];
    for (const t0 of times) for (let t = t0; t < t0 + 12; t++) expect(at(t)).toBe(new Date(t).toISOString());
    expect(at(0)).toBe("1970-01-01T00:00:00.000Z");
  });

  test("json: any client string round-trips (quotes, control characters, non-ASCII, lone surrogates), durations to the µs", () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const pick = () => [rnd(0x20), 0x22, 0x5c, 0x7f, 0xe9, 0x2028, 0xd800, 0xdc00, 0x1f600, 0x20 + rnd(0x5f)][rnd(10)]!;
    for (let i = 0; i < 2000; i++) {
      let path = "/";
      for (let k = rnd(40); k > 0; k--) path += String.fromCodePoint(pick());
      const durationMs = rnd(10_000_000) / 997;
      const o = JSON.parse(text(jsonLine, { ...rec, path, method: path.slice(0, 3), durationMs }, 0)) as Record<string, unknown>;
      expect(o.path).toBe(path);
      expect(o.method).toBe(path.slice(0, 3));
      expect(o.duration_ms).toBe(Math.round(durationMs * 1000) / 1000);
    }
  });

  test("an id given as prefix and sequence number is written as the prefix and the number's base-36 digits", () => {
    for (const n of [0, 9, 10, 35, 36, 123456, 0x7ffffffe]) {
      const r = { ...rec, requestId: "ab12-", requestSeq: n };
      expect(JSON.parse(text(jsonLine, r, 0)).request_id).toBe(`ab12-${n.toString(36)}`);
      expect(text(combinedLine, r, 0)).toEndWith(` id=ab12-${n.toString(36)}\n`);
    }
  });

  test("combined: nginx's fields first, ours appended as key=value; quotes and backslashes escaped", () => {
    const l = text(combinedLine, { ...rec, backend: "" }, Date.UTC(2026, 10, 30, 12, 0, 1));
    expect(l).toBe(
      '198.18.0.7 - - [30/Nov/2026:12:00:01 +0000] "GET /a b\\x22c\\x5cd?x=1 HTTP/1.1" 200 15 "-" "curl/8 \\x22x\\x22" rt=0.001 in=0 pool=default node=n1 backend=- attempts=1 id=ab12-3\n',
    );
  });
});

/**
 * A writer to a pipe whose reader opens it and reads nothing until read() is called; read() then closes
 * the writer and resolves with everything the reader got. go() lets the reader start, nothing else.
 */
function stalledReader(): { w: AccessLogWriter; read: () => Promise<string>; go: () => void } {
  const dir = tmp();
  const [fifo, go, out] = [join(dir, "fifo"), join(dir, "go"), join(dir, "out")];
  expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
  const reader = Bun.spawn(["sh", "-c", 'exec 3<"$0"; while [ ! -e "$1" ]; do sleep 0.02; done; cat <&3 > "$2"', fifo, go, out]);
  const w = new AccessLogWriter({ path: fifo });
  const read = async () => {
    writeFileSync(go, "");
    await w.close();
    expect(await reader.exited).toBe(0);
    return readFileSync(out, "utf8");
  };
  return { w, read, go: () => writeFileSync(go, "") };
}

describe("writer", () => {
  test("lines of every size, one longer than a buffer, come out whole and in order across buffers", async () => {
    const path = join(tmp(), "access.log");
    const w = new AccessLogWriter({ path });
    let want = "";
    for (let i = 0; i < 20_000; i++) {
      const line = i === 7_000 ? `${"x".repeat(200_000)}\n` : `${i} ${"é".repeat(i % 300)}\n`;
      want += line;
      writeLine(w, line);
    }
    await until(() => Bun.file(path).size === Buffer.byteLength(want), 5000);
    await w.close();
    expect(readFileSync(path, "utf8") === want).toBe(true);
    expect(w.lost.dropped.value).toBe(0);
  });

  test("buffers lines, writes them shortly after, and after reopen writes to the new file at the same path", async () => {
    const dir = tmp();
    const path = join(dir, "access.log");
    writeFileSync(path, "existing\n");
    const w = new AccessLogWriter({ path });
    for (let i = 0; i < 1000; i++) writeLine(w, `line ${i}\n`);
    await until(() => lines(path).length === 1001, 2000);
    renameSync(path, `${path}.1`);
    writeLine(w, "after move, before reopen\n");
    await Bun.sleep(150);
    w.reopen();
    writeLine(w, "after reopen\n");
    await w.close();
    expect(lines(`${path}.1`).at(-1)).toBe("after move, before reopen");
    expect(lines(path)).toEqual(["after reopen"]);
    expect(w.lost.dropped.value).toBe(0);
  });

  test("reopen() after close() (SIGUSR1 during shutdown) opens nothing and reports nothing", async () => {
    const dir = tmp();
    const path = join(dir, "access.log");
    const errors: unknown[] = [];
    const w = new AccessLogWriter({ path }, (e) => errors.push(e));
    writeLine(w, "last\n");
    await w.close();
    renameSync(path, `${path}.1`);
    w.reopen();
    await Bun.sleep(50);
    expect(errors).toEqual([]);
    expect(existsSync(path)).toBe(false);
    expect(lines(`${path}.1`)).toEqual(["last"]);
  });

  test("a reader that stops reading (a full pipe) stalls neither the event loop nor later lines", async () => {
    const { w, read } = stalledReader();
    let want = "";
    for (let i = 0; i < 20_000; i++) {
      const line = `${i} ${"x".repeat(40)}\n`;
      want += line;
      writeLine(w, line);
    }
    // 900 KiB against a 64 KiB pipe nobody reads: a write on the event loop (writeSync) would block it
    // here for good, and the reader would never be told to start.
    await Bun.sleep(50);
    expect((await read()) === want).toBe(true);
    expect(w.lost.dropped.value).toBe(0);
  });

  test("a disk that cannot keep up: lines past 16 MiB in waiting are dropped and counted, the rest come out whole", async () => {
    const { w, read } = stalledReader();
    const total = 400_000;
    for (let i = 0; i < total; i++) writeLine(w, `${i} ${"x".repeat(50)}\n`);
    expect(w.lost.dropped.value).toBeGreaterThan(0);
    const got = (await read()).split("\n").filter((l) => l !== "");
    expect(got.length + w.lost.dropped.value).toBe(total);
    // What was kept is the oldest lines, in order (the newest are dropped first).
    expect(got.every((l, i) => l.startsWith(`${i} `))).toBe(true);
    expect(w.lost.failed.value).toBe(0);
  });

  test("close() with a reader that never reads: gives up after its time, counts what it could not write as dropped", async () => {
    const { w, go } = stalledReader();
    const total = 20_000;
    for (let i = 0; i < total; i++) writeLine(w, `${i} ${"x".repeat(40)}\n`);
    await Bun.sleep(50);
    // It used to write the rest synchronously, and a node stopping with a stalled log pipe hung for good.
    const t0 = performance.now();
    await w.close(300);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    // At most the pipe's 64 KiB and the 64 KiB buffer whose write was under way got out.
    const perLine = 43;
    expect(w.lost.dropped.value).toBeGreaterThanOrEqual(total - Math.ceil((2 * 65536) / perLine));
    expect(w.lost.dropped.value).toBeLessThanOrEqual(total);
    go();
  });

  test("a write that fails (a full disk) loses its lines, counts them and logging goes on", async () => {
    const errors: unknown[] = [];
    const w = new AccessLogWriter({ path: "/dev/full" }, (e) => errors.push(e));
    for (let i = 0; i < 10; i++) writeLine(w, `line ${i}\n`);
    await until(() => w.lost.failed.value === 10, 2000);
    for (let i = 0; i < 5; i++) writeLine(w, `line ${i}\n`);
    await w.close();
    expect(w.lost.failed.value).toBe(15);
    expect(w.lost.dropped.value).toBe(0);
    expect(String(errors[0])).toContain("ENOSPC");
  });

  test("a full disk is reported once, not once per failed buffer; every lost line is counted", async () => {
    const reports: number[] = [];
    const lost = { dropped: { value: 0 }, failed: { value: 0 } };
    const log = new AccessLog({ access: "/dev/full", format: "json" }, (_e, errors) => reports.push(errors), lost);
    // About 1,000 lines of ~250 bytes: four 64 KiB buffers, four failed writes.
    for (let i = 0; i < 1000; i++) log.record({ ...rec, requestId: `r-${i}` }, performance.now());
    await until(() => lost.failed.value === 1000, 3000);
    expect(reports).toEqual([1]);
    await log.close();
  });
});

describe("AccessLog", () => {
  test("a line's time is the wall clock at the exchange's end, from its monotonic time", async () => {
    const path = join(tmp(), "access.log");
    const log = new AccessLog({ access: path, format: "json" });
    const now = performance.now();
    const wall = Date.now();
    log.record({ ...rec, requestId: "a" }, now);
    log.record({ ...rec, requestId: "b" }, now - 1500);
    await Bun.sleep(1100);
    // Past the clocks' offset's age: it is read again.
    const later = performance.now();
    const wallLater = Date.now();
    log.record({ ...rec, requestId: "c" }, later);
    await log.close();
    const times = lines(path).map((l) => Date.parse(String((JSON.parse(l) as Record<string, unknown>).time)));
    expect(Math.abs(times[0]! - wall)).toBeLessThanOrEqual(2);
    expect(Math.abs(times[1]! - (wall - 1500))).toBeLessThanOrEqual(2);
    expect(Math.abs(times[2]! - wallLater)).toBeLessThanOrEqual(2);
  });
});

/** A node with a JSON access log at `path`, in front of backend "a"; both stopped after `fn`. */
async function withLoggingNode(fn: (n: { path: string; a: BackendHandle; node: TestNode }) => Promise<void>): Promise<void> {
  const path = join(tmp(), "access.log");
  const a = startBackend({ name: "a" });
  const node = await startNode({ name: "logger", backends: [`127.0.0.1:${a.port}`], configure: (c) => (c.log = { access: path, accessFormat: "json" }) });
  try {
    await fn({ path, a, node });
  } finally {
    await node.stop(0);
    await a.stop();
  }
}

describe("a node with the access log on", () => {
  test("json lines for proxied, failed and refused requests hold every field", async () => {
    await withLoggingNode(async ({ path, a, node }) => {
      await (await fetch(`${node.url}/small?q=1`, { headers: { "user-agent": "t" } })).text();
      await (await fetch(`${node.url}/echo`, { method: "POST", body: "hello" })).text();
      await (await fetch(`${node.url}/status/503`)).text();
      // Refused at admission (a Content-Length the upstream client could not write), before any backend is chosen.
      let answer = "";
      const sock = await Bun.connect({ hostname: "127.0.0.1", port: node.proxy.port, socket: { data: (_s, d) => void (answer += Buffer.from(d).toString("latin1")) } });
      sock.write("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1234567890123456\r\n\r\nabc");
      await until(() => answer.includes("\r\n\r\n"), 2000);
      sock.terminate();
      const refusedStatus = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
      expect(refusedStatus).toBe(400);
      await until(() => (Bun.file(path).size > 0 ? lines(path).length >= 4 : false), 2000);
      const got = lines(path).map((l) => JSON.parse(l) as Record<string, unknown>);
      for (const o of got) expect(Object.keys(o)).toEqual(FIELDS);
      const backend = `127.0.0.1:${a.port}`;
      expect(got[0]).toMatchObject({ client_ip: "127.0.0.1", method: "GET", path: "/small?q=1", protocol: "HTTP/1.1", status: 200, bytes_in: 0, pool: "default", node: "logger", backend, attempts: 1 });
      expect(got[1]).toMatchObject({ method: "POST", path: "/echo", status: 200, bytes_in: 5, backend });
      expect(got[2]).toMatchObject({ path: "/status/503", status: 503, backend });
      // The node's own answer is logged with the size it sent (it used to be null: Bun, not the node, knew it).
      const refusedLength = Number(/\r\ncontent-length: (\d+)\r\n/i.exec(answer)?.[1]);
      expect(refusedLength).toBeGreaterThan(0);
      expect(got[3]).toMatchObject({ method: "POST", path: "/echo", status: refusedStatus, bytes_out: refusedLength, node: "", backend: "", attempts: 0 });
      for (const o of got) {
        expect(typeof o.duration_ms).toBe("number");
        expect(o.request_id).toMatch(/^[0-9a-z]+-[0-9a-z]+$/);
        expect(Math.abs(Date.parse(String(o.time)) - Date.now())).toBeLessThan(10_000);
      }
    });
  });

  test("streamed bodies are logged when they end: bytes handed over and duration to then, aborted ones too; chunked uploads count their bytes", async () => {
    await withLoggingNode(async ({ path, a, node }) => {
      // Over WATCH_RESPONSES_FROM: streamed through, Content-Length dropped on the way.
      const big = await (await fetch(`${node.url}/bytes/2097152`)).arrayBuffer();
      expect(big.byteLength).toBe(2097152);
      // Events 100 ms apart, headers at once: the line waits for the last event.
      const sse = await (await fetch(`${node.url}/sse?n=4&ms=100`)).text();
      // A client that goes away mid-body still gets its line, with what it was handed by then.
      const ac = new AbortController();
      const r = await fetch(`${node.url}/sse?n=1000&ms=20`, { signal: ac.signal });
      const reader = r.body!.getReader();
      let read = 0;
      for (let i = 0; i < 3; i++) read += (await reader.read()).value?.byteLength ?? 0;
      ac.abort();
      // A chunked upload (no Content-Length): bytes_in counts what was passed on.
      const chunks = [new Uint8Array(1000), new Uint8Array(2000), new Uint8Array(500)];
      const upload = new ReadableStream<Uint8Array>({
        pull(c) {
          const next = chunks.shift();
          if (next) c.enqueue(next);
          else c.close();
        },
      });
      expect(await (await fetch(`${node.url}/sink`, { method: "POST", body: upload })).text()).toBe("3500\n");
      await until(() => Bun.file(path).size > 0 && lines(path).length >= 4, 3000);
      const got = lines(path).map((l) => JSON.parse(l) as Record<string, unknown>);
      const byPath = (p: string) => got.find((o) => String(o.path).startsWith(p))!;
      const backend = `127.0.0.1:${a.port}`;
      expect(byPath("/bytes/")).toMatchObject({ status: 200, bytes_out: 2097152, backend, attempts: 1 });
      expect(byPath("/sse?n=4")).toMatchObject({ status: 200, bytes_out: Buffer.byteLength(sse), backend });
      // Three gaps of 100 ms lie between the headers and the end of the body.
      expect(byPath("/sse?n=4").duration_ms as number).toBeGreaterThanOrEqual(300);
      const aborted = byPath("/sse?n=1000");
      expect(aborted).toMatchObject({ status: 200, backend });
      expect(aborted.bytes_out as number).toBeGreaterThanOrEqual(read);
      expect(aborted.bytes_out as number).toBeLessThan(1000 * 10);
      expect(byPath("/sink")).toMatchObject({ method: "POST", status: 200, bytes_in: 3500, bytes_out: 5 });
      expect(got.length).toBe(4);
    });
  });

  test("a WebSocket tunnel is logged once when it closes (101, bytes each way); a refused upgrade gets its ordinary line", async () => {
    await withLoggingNode(async ({ path, a, node }) => {
      const wsUrl = node.url.replace("http:", "ws:");
      const ws = new WebSocket(`${wsUrl}/ws?x=1`);
      ws.binaryType = "arraybuffer";
      const got: (string | number)[] = [];
      ws.onmessage = (e) => got.push(typeof e.data === "string" ? e.data : (e.data as ArrayBuffer).byteLength);
      await new Promise((resolve) => (ws.onopen = resolve));
      ws.send("abc");
      ws.send(new Uint8Array(5));
      await until(() => got.length === 3, 2000);
      expect(got).toEqual(["hello a", "abc", 5]);
      const closed = new Promise((resolve) => (ws.onclose = resolve));
      ws.close(1000);
      await closed;
      // The backend answers a plain 200 to an upgrade on any other path: the handshake is refused (502).
      const refused = new WebSocket(`${wsUrl}/not-ws`);
      await new Promise((resolve) => (refused.onerror = refused.onclose = resolve));
      await until(() => Bun.file(path).size > 0 && lines(path).length >= 2, 3000);
      await Bun.sleep(150);
      const lineOf = lines(path).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lineOf.length).toBe(2);
      const backend = `127.0.0.1:${a.port}`;
      const tunnel = lineOf.find((o) => o.path === "/ws?x=1")!;
      expect(tunnel).toMatchObject({ method: "GET", protocol: "HTTP/1.1", status: 101, bytes_in: 8, bytes_out: 15, pool: "default", node: "logger", backend, attempts: 1 });
      expect(tunnel.duration_ms as number).toBeGreaterThan(0);
      expect(lineOf.find((o) => o.path === "/not-ws")).toMatchObject({ method: "GET", status: 502, bytes_in: 0, pool: "default", node: "logger", backend, attempts: 1 });
    });
  });

  test("workers = 2 write one file between them (whole lines) and reopen it on SIGUSR1", async () => {
    const dir = tmp();
    const path = join(dir, "access.log");
    const a = startBackend({ name: "a" });
    const proxyPort = freePort();
    const adminPort = freePort();
    const cfg = join(dir, "c.toml");
    writeFileSync(
      cfg,
      `[cluster]\nlisten_port = 0\nbind_address = "127.0.0.1"\n[proxy]\nlisten_port = ${proxyPort}\nbind_address = "127.0.0.1"\nworkers = 2\n` +
        `[admin]\nlisten_port = ${adminPort}\n[health]\ninterval = "30s"\n[log]\naccess = "${path}"\naccess_format = "combined"\n[[backends]]\naddress = "127.0.0.1:${a.port}"\n`,
    );
    const proc = Bun.spawn(["bun", MAIN, cfg, "--log-level", "warn"], { stdout: "ignore", stderr: "inherit" });
    const url = `http://127.0.0.1:${proxyPort}`;
    // Fresh connections, so both workers take some.
    const burst = (tag: string) => Promise.all(Array.from({ length: 40 }, (_, i) => fetch(`${url}/${tag}/${i}`, { keepalive: false }).then((r) => r.text())));
    try {
      await until(async () => (await fetch(`http://127.0.0.1:${adminPort}/health`).catch(() => null))?.ok === true, 15_000);
      await burst("before");
      await until(() => Bun.file(path).size > 0 && lines(path).length === 40, 3000);
      renameSync(path, `${path}.1`);
      proc.kill("SIGUSR1");
      await Bun.sleep(300);
      await burst("after");
      await until(() => Bun.file(path).size > 0 && lines(path).length === 40, 3000);
      const combined = /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/(before|after)\/\d+ HTTP\/1\.1" 200 \d+ "-" "[^"]*" rt=\d+\.\d{3} in=0 pool=default node=\S+ backend=127\.0\.0\.1:\d+ attempts=1 id=\S+$/;
      for (const l of lines(`${path}.1`)) expect(l).toMatch(combined);
      for (const l of lines(path)) expect(l).toMatch(combined);
      expect(lines(`${path}.1`).every((l) => l.includes("/before/"))).toBe(true);
      expect(lines(path).every((l) => l.includes("/after/"))).toBe(true);
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
      await a.stop();
    }
  }, 30_000);

  test("a node whose log reader stopped reading still stops on SIGTERM (it used to hang writing the rest)", async () => {
    const dir = tmp();
    const fifo = join(dir, "fifo");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    // Holds the pipe open and never reads it: what a stuck log shipper does.
    const reader = Bun.spawn(["sh", "-c", 'exec 3<"$0"; sleep 120', fifo]);
    const a = startBackend({ name: "a" });
    const [proxyPort, adminPort] = [freePort(), freePort()];
    const cfg = join(dir, "c.toml");
    writeFileSync(
      cfg,
      `[cluster]\nlisten_port = 0\nbind_address = "127.0.0.1"\n[proxy]\nlisten_port = ${proxyPort}\nbind_address = "127.0.0.1"\nworkers = 1\ndrain_timeout = "1s"\n` +
        `[admin]\nlisten_port = ${adminPort}\n[health]\ninterval = "30s"\n[log]\naccess = "${fifo}"\n[[backends]]\naddress = "127.0.0.1:${a.port}"\n`,
    );
    const proc = Bun.spawn(["bun", MAIN, cfg, "--log-level", "error"], { stdout: "ignore", stderr: "inherit" });
    try {
      await until(async () => (await fetch(`http://127.0.0.1:${adminPort}/health`).catch(() => null))?.ok === true, 15_000);
      // ~1,000 lines of ~250 bytes: the pipe's 64 KiB fill, a 64 KiB write waits on it, more buffers queue.
      for (let i = 0; i < 50; i++) {
        await Promise.all(Array.from({ length: 20 }, () => fetch(`http://127.0.0.1:${proxyPort}/`, { keepalive: false }).then((r) => r.text())));
      }
      await Bun.sleep(300);
      proc.kill("SIGTERM");
      // The drain (nothing in flight) and the log's 1 s to write what it holds, then the rest is dropped.
      const exited = await Promise.race([proc.exited, Bun.sleep(15_000).then(() => "still running")]);
      expect(exited).toBe(0);
    } finally {
      proc.kill("SIGKILL");
      reader.kill();
      await a.stop();
    }
  }, 40_000);

  test("lines lost by workers (a full disk) are counted in the node's /metrics", async () => {
    const a = startBackend({ name: "a" });
    const [proxyPort, adminPort] = [freePort(), freePort()];
    const cfg = join(tmp(), "c.toml");
    writeFileSync(
      cfg,
      `[cluster]\nlisten_port = 0\nbind_address = "127.0.0.1"\n[proxy]\nlisten_port = ${proxyPort}\nbind_address = "127.0.0.1"\nworkers = 2\n` +
        `[admin]\nlisten_port = ${adminPort}\n[health]\ninterval = "30s"\n[log]\naccess = "/dev/full"\n[[backends]]\naddress = "127.0.0.1:${a.port}"\n`,
    );
    const proc = Bun.spawn(["bun", MAIN, cfg, "--log-level", "error"], { stdout: "ignore", stderr: "inherit" });
    const lost = async (reason: string) => {
      const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
      return Number(new RegExp(`^clusterclub_access_log_lost_lines_total\\{reason="${reason}"\\} (\\d+)$`, "m").exec(text)?.[1]);
    };
    try {
      await until(async () => (await fetch(`http://127.0.0.1:${adminPort}/health`).catch(() => null))?.ok === true, 15_000);
      expect(await lost("write_failed")).toBe(0);
      for (let i = 0; i < 30; i++) expect((await fetch(`http://127.0.0.1:${proxyPort}/`, { keepalive: false })).status).toBe(200);
      await until(async () => (await lost("write_failed")) === 30, 5000);
      expect(await lost("dropped")).toBe(0);
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
      await a.stop();
    }
  }, 30_000);
});
