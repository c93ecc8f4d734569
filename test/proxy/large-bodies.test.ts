// 1 GiB each way through a node running as its own process: bodies must stream, not buffer.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";
import { freePort, until } from "../helpers/node.ts";

const GIB = 1024 * 1024 * 1024;
const RSS_LIMIT = 150 * 1024 * 1024;

let backend: BackendHandle;
let proc: ReturnType<typeof Bun.spawn>;
let proxyUrl: string;

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Samples the node's RSS while `work` runs; returns the peak. */
async function peakRss(work: () => Promise<void>): Promise<number> {
  let peak = rssOf(proc.pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssOf(proc.pid));
  }, 50);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, rssOf(proc.pid));
}

beforeAll(async () => {
  backend = startBackend({ name: "big" });
  const ports = [freePort(), freePort()];
  const dir = mkdtempSync(join(tmpdir(), "cc-big-"));
  const cfg = join(dir, "c.toml");
  writeFileSync(
    cfg,
    `[cluster]\nlisten_port = 0\n[proxy]\nlisten_port = ${ports[0]}\nbind_address = "127.0.0.1"\n[admin]\nlisten_port = ${ports[1]}\n[[backends]]\naddress = "127.0.0.1:${backend.port}"\n`,
  );
  proc = Bun.spawn(["bun", join(import.meta.dir, "../../src/main.ts"), cfg, "--log-level", "warn"], { stdout: "ignore", stderr: "inherit" });
  proxyUrl = `http://127.0.0.1:${ports[0]}`;
  await until(async () => (await fetch(`http://127.0.0.1:${ports[1]}/health`).catch(() => null))?.ok === true, 10_000);
});

afterAll(async () => {
  proc.kill("SIGKILL");
  await backend.stop();
});

test("a 1 GiB download streams through with the node's RSS under 150 MB", async () => {
  let got = 0;
  const peak = await peakRss(async () => {
    const r = await fetch(`${proxyUrl}/bytes/${GIB}`);
    expect(r.status).toBe(200);
    for await (const chunk of r.body!) got += chunk.length;
  });
  expect(got).toBe(GIB);
  console.log(`1 GiB download: node peak RSS ${(peak / 1048576).toFixed(0)} MB`);
  expect(peak).toBeLessThan(RSS_LIMIT);
}, 120_000);

test("a 1 GiB upload streams through with the node's RSS under 150 MB", async () => {
  const chunk = new Uint8Array(256 * 1024).fill(7);
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= GIB) return c.close();
      c.enqueue(chunk);
      sent += chunk.length;
    },
  });
  let answer = "";
  const peak = await peakRss(async () => {
    const r = await fetch(`${proxyUrl}/sink`, { method: "POST", body, duplex: "half" } as RequestInit);
    expect(r.status).toBe(200);
    answer = (await r.text()).trim();
  });
  expect(Number(answer)).toBe(GIB);
  console.log(`1 GiB upload: node peak RSS ${(peak / 1048576).toFixed(0)} MB`);
  expect(peak).toBeLessThan(RSS_LIMIT);
}, 120_000);
