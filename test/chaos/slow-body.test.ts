// A 1 GiB upload to a backend that reads at 20 MB/s: the node must not buffer what the backend has not
// read. Backpressure reaches the client (its send rate drops to the backend's read rate), the bytes in
// flight stay bounded, the node's memory stays flat; then the backend reads at full speed and the
// whole GiB arrives. Client, node and backend are three processes.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { type JsonLines, MB, mb, type NodeProcess, spawnNode, spawnProc, summary, treeUsage, UsageSampler } from "./helpers.ts";

const GIB = 1024 * 1024 * 1024;
const RATE = 20_000_000;
const SLOW_MS = 8000;
/** The part of the slow phase whose rates are reported (after the buffers on the path have filled). */
const WINDOW = [4000, 7800] as const;

/** The largest buffer the kernel gives a TCP socket, from the third field of net.ipv4.tcp_[rw]mem. */
const tcpMax = (which: "rmem" | "wmem") => Number(readFileSync(`/proc/sys/net/ipv4/tcp_${which}`, "utf8").trim().split(/\s+/)[2]);
/**
 * What may be between the client's sends and the backend's reads, from the system's configuration: the
 * send and receive buffers of the two TCP connections on the path (client→node, node→backend), plus what
 * the node and the backend hold in user space (the node keeps the first 256 KiB of a body for a retry;
 * 16 MiB covers that and both processes' read chunks).
 */
const IN_FLIGHT_BOUND = 2 * (tcpMax("rmem") + tcpMax("wmem")) + 16 * MB;
/** The node's memory while the upload is held back: the retry copy and read chunks, not the upload. */
const RSS_GROWTH_BOUND = 64 * MB;

interface Progress {
  event: string;
  port?: number;
  sent?: number;
  received?: number;
  status?: number;
  body?: string;
  framing?: string;
  ms?: number;
}

let backend: JsonLines<Progress>;
let backendPort = 0;
let node: NodeProcess;

beforeAll(async () => {
  backend = spawnProc<Progress>("slow-backend.ts", [String(RATE), String(SLOW_MS)]);
  backendPort = (await backend.next(10_000)).port!;
  node = await spawnNode({ backends: [`127.0.0.1:${backendPort}`], proxy: 'response_timeout = "120s"' });
});

afterAll(async () => {
  await node?.stop();
  backend?.proc.kill("SIGKILL");
});

/** Bytes at time `t` (ms since start), interpolated between samples. */
function at(samples: [number, number][], t: number): number {
  for (let i = 1; i < samples.length; i++) {
    const [t1, v1] = samples[i]!;
    if (t1 >= t) {
      const [t0, v0] = samples[i - 1]!;
      return v0 + ((v1 - v0) * (t - t0)) / Math.max(1, t1 - t0);
    }
  }
  return samples[samples.length - 1]![1];
}

test("1 GiB upload to a 20 MB/s backend: the client is slowed to the backend's rate, the node buffers nothing", async () => {
  const before = treeUsage(node.pid);
  const sampler = new UsageSampler(node.pid, 100);
  const t0 = performance.now();
  const upload = spawnProc<Progress>("upload.ts", ["127.0.0.1", String(node.proxyPort), "/upload", String(GIB)]);
  const sent: [number, number][] = [[0, 0]];
  const received: [number, number][] = [[0, 0]];
  let maxInFlight = 0;
  let rssAtSlowEnd = 0;

  // The node's memory at the end of the window: by then 1 GiB had been offered and ~150 MB read.
  const rssTimer = setTimeout(() => {
    rssAtSlowEnd = treeUsage(node.pid).rssBytes;
  }, WINDOW[1]);
  const backendDone = (async () => {
    for (;;) {
      const m = await backend.next(120_000);
      const t = performance.now() - t0;
      if (m.event === "progress") received.push([t, m.received!]);
      // (The node's readiness probe was a GET: a done with no body is not the upload.)
      if (m.event === "done" && m.received! > 0) return m;
    }
  })();
  let done: Progress;
  for (;;) {
    const m = await upload.next(120_000);
    const t = performance.now() - t0;
    if (m.event === "progress") {
      sent.push([t, m.sent!]);
      if (t < SLOW_MS) maxInFlight = Math.max(maxInFlight, m.sent! - at(received, t));
    }
    if (m.event === "done") {
      done = m;
      break;
    }
  }
  const got = await backendDone;
  clearTimeout(rssTimer);
  sampler.stop();
  const ms = performance.now() - t0;

  const secs = (WINDOW[1] - WINDOW[0]) / 1000;
  const clientRate = (at(sent, WINDOW[1]) - at(sent, WINDOW[0])) / secs;
  const backendRate = (at(received, WINDOW[1]) - at(received, WINDOW[0])) / secs;

  expect(done.status).toBe(200);
  expect(done.body).toBe(String(GIB));
  expect(got.received).toBe(GIB);
  // The premise: the backend never read ahead of its pace (one read chunk of slack), whatever the load.
  expect(at(received, WINDOW[1])).toBeLessThanOrEqual((RATE * WINDOW[1]) / 1000 + 4 * MB);
  // Backpressure: at every moment of the slow phase the client had sent at most what the backend had read
  // plus what the buffers on the path hold, so its rate is the backend's (no wall-clock rate window needed),
  // not the hundreds of MB/s it could.
  expect(maxInFlight).toBeLessThanOrEqual(IN_FLIGHT_BOUND);
  // …and those bytes sit in socket buffers, not in the node.
  expect(rssAtSlowEnd - before.rssBytes).toBeLessThan(RSS_GROWTH_BOUND);
  expect(sampler.peakRss - before.rssBytes).toBeLessThan(100 * MB);
  expect(node.proc.exitCode).toBeNull();

  summary({
    scenario: "1 GiB upload to a slow backend",
    load: `1 GiB POST, backend reads ${RATE / 1e6} MB/s for ${SLOW_MS / 1000}s then at full speed`,
    faults: "slow reader",
    sent: 1,
    failed: done.status === 200 && got.received === GIB ? 0 : 1,
    client_rate_mb_s: (clientRate / 1e6).toFixed(1),
    backend_rate_mb_s: (backendRate / 1e6).toFixed(1),
    max_in_flight_mb: mb(maxInFlight),
    in_flight_bound_mb: mb(IN_FLIGHT_BOUND),
    rss_before_mb: mb(before.rssBytes),
    rss_at_slow_end_mb: mb(rssAtSlowEnd),
    rss_peak_mb: mb(sampler.peakRss),
    upstream_framing: got.framing ?? "?",
    total_s: (ms / 1000).toFixed(1),
  });
}, 120_000);

// Found by this scenario (fixed in 815dd7c): Bun's idle timer ignores request-body bytes, so an upload
// streaming steadily for longer than proxy.idle_timeout was cut with no answer; and the response timeout
// ran from the start of the request, so an upload longer than proxy.response_timeout got a 504.
test("regression: an upload longer than idle_timeout was cut mid-body, one longer than response_timeout got 504", async () => {
  const short = await spawnNode({ backends: [`127.0.0.1:${backendPort}`], proxy: 'idle_timeout = "2s"\nresponse_timeout = "2s"' });
  try {
    // 40 MB sent at 8 MB/s: 5 s of steady upload, 2.5 times both timeouts.
    const bytes = 40 * 1_000_000;
    const up = spawnProc<Progress>("upload.ts", ["127.0.0.1", String(short.proxyPort), "/upload-long", String(bytes), String(8_000_000)]);
    let m: Progress;
    do m = await up.next(30_000);
    while (m.event !== "done");
    expect(m.status).toBe(200);
    expect(m.body).toBe(String(bytes));
    expect(m.ms!).toBeGreaterThan(4000);
    summary({
      scenario: "upload longer than idle and response timeouts",
      load: "40 MB POST paced at 8 MB/s (5 s)",
      faults: "idle_timeout 2s, response_timeout 2s",
      sent: 1,
      failed: m.status === 200 ? 0 : 1,
      status: m.status!,
      upload_ms: m.ms!,
    });
  } finally {
    await short.stop();
  }
}, 40_000);
