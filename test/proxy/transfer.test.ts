// Regression tests for long transfers (found by the chaos suite): Bun's idle timer is not re-armed by
// request-body bytes nor by a slow reader draining a response, and the response timeout used to run
// during the upload. Steady transfers longer than idle_timeout must pass; stalled ones must be cut.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";
import { startNode } from "../helpers/node.ts";

type Node = Awaited<ReturnType<typeof startNode>>;

/** A body of `chunks` × `size` bytes, one chunk every `everyMs`. */
function paced(chunks: number, size: number, everyMs: number): ReadableStream<Uint8Array> {
  let i = 0;
  const chunk = new Uint8Array(size).fill(97);
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      if (i++ >= chunks) return c.close();
      if (i > 1) await Bun.sleep(everyMs);
      c.enqueue(chunk);
    },
  });
}

/** Body length of a raw chunked HTTP/1.1 response; throws if the framing is cut short. */
function dechunk(raw: Buffer): number {
  let i = raw.indexOf("\r\n\r\n") + 4;
  expect(raw.subarray(0, i).toString()).toMatch(/transfer-encoding: chunked/i);
  let total = 0;
  for (;;) {
    const eol = raw.indexOf("\r\n", i);
    if (eol < 0) throw new Error("chunked body cut short");
    const n = Number.parseInt(raw.subarray(i, eol).toString(), 16);
    if (n === 0) return total;
    total += n;
    i = eol + 2 + n + 2;
  }
}

describe("long transfers", () => {
  let backend: BackendHandle;
  let node: Node;

  beforeAll(async () => {
    backend = startBackend({ name: "long" });
    node = await startNode({ backends: [`127.0.0.1:${backend.port}`], proxy: 'idle_timeout = "1s"\nresponse_timeout = "1s"' });
  });
  afterAll(async () => {
    await node.stop(0);
    await backend.stop();
  });

  test("regression: a steady upload longer than idle_timeout and response_timeout is not cut (no 504)", async () => {
    // 3 s of upload at ~20 chunks/s: three times the idle timeout and the response timeout.
    const r = await fetch(`${node.url}/sink`, { method: "POST", body: paced(60, 16 * 1024, 50), duplex: "half" } as RequestInit);
    expect(r.status).toBe(200);
    expect(Number((await r.text()).trim())).toBe(60 * 16 * 1024);
  }, 20_000);

  test("regression: a slow reader of a large download longer than idle_timeout gets every byte", async () => {
    // A raw client that reads ~4 MB/s (pausing the socket between reads), so the node's sends back up.
    const size = 12 * 1024 * 1024;
    const t0 = performance.now();
    const raw = await new Promise<Buffer>((resolve) => {
      const parts: Buffer[] = [];
      const s = connect(node.proxy.port, "127.0.0.1", () => s.write(`GET /bytes/${size} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
      s.on("data", (d: Buffer) => {
        parts.push(d);
        s.pause();
        setTimeout(() => s.resume(), Math.ceil(d.length / 4096));
      });
      s.on("close", () => resolve(Buffer.concat(parts)));
      s.on("error", () => resolve(Buffer.concat(parts)));
    });
    expect(dechunk(raw)).toBe(size);
    expect(performance.now() - t0).toBeGreaterThan(1500);
  }, 30_000);

  test("regression: an event stream longer than idle_timeout is not cut", async () => {
    const r = await fetch(`${node.url}/sse?n=5&ms=500`);
    const text = await r.text();
    expect(text.match(/^data: /gm)?.length).toBe(5);
  }, 15_000);

  test("a client that stops sending its body is cut after idle_timeout with 408", async () => {
    const started = performance.now();
    const status = await new Promise<string>((resolve) => {
      const s = connect(node.proxy.port, "127.0.0.1", () => {
        s.write("POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4000\r\n" + "a".repeat(0x4000) + "\r\n");
        // …and then nothing more.
      });
      let out = "";
      s.on("data", (d) => {
        out += d.toString();
        if (out.includes("\r\n")) {
          resolve(out.split("\r\n")[0] ?? "");
          s.destroy();
        }
      });
      s.on("close", () => resolve(out.split("\r\n")[0] ?? ""));
      s.on("error", () => resolve(out.split("\r\n")[0] ?? ""));
      setTimeout(() => s.destroy(), 8000);
    });
    const took = performance.now() - started;
    expect(status).toContain("408");
    expect(took).toBeGreaterThan(900);
    expect(took).toBeLessThan(3000);
  }, 15_000);
});
