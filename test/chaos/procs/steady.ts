// Normal clients: keep-alive requests at a steady rate for a fixed time, each latency recorded.
//   bun steady.ts <url> <durationMs> <ratePerSecond> [maxInFlight]
// Prints one JSON line: sent, ok, failed, statuses, errors (first few), latency quantiles in ms, and
// the p99 of each 1 s window (`windowP99`): its median shrugs off a burst from a neighbour process.
// Latencies of the first WARMUP_MS are not counted (this process's own JIT and first connections).

const [url = "", durationText = "1000", rateText = "100", maxText = "64"] = process.argv.slice(2);
const durationMs = Number(durationText);
const rate = Number(rateText);
const maxInFlight = Number(maxText);

const latencies: number[] = [];
/** Latencies by the 1 s window their request started in. */
const windows: number[][] = [];
const statuses: Record<string, number> = {};
const errors: string[] = [];
let sent = 0;
let warm = 0;
let failed = 0;
let inFlight = 0;
const t0 = performance.now();
let skipped = 0;
const WARMUP_MS = 300;

async function one(): Promise<void> {
  sent++;
  inFlight++;
  const t = performance.now();
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    await r.arrayBuffer();
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    if (r.status !== 200) failed++;
    else if (t - t0 >= WARMUP_MS) {
      const ms = performance.now() - t;
      latencies.push(ms);
      (windows[Math.floor((t - t0) / 1000)] ??= []).push(ms);
    }
    else warm++;
  } catch (e) {
    failed++;
    if (errors.length < 10) errors.push(String(e));
  } finally {
    inFlight--;
  }
}

const pending: Promise<void>[] = [];
// Open loop: request i is due at t0 + i/rate, whatever the previous ones are doing (up to maxInFlight).
for (let i = 0; ; i++) {
  const due = t0 + (i * 1000) / rate;
  if (due - t0 >= durationMs) break;
  const wait = due - performance.now();
  if (wait > 0) await Bun.sleep(wait);
  if (inFlight >= maxInFlight) {
    // Not sent because too many are in flight: a failure (also counted in `sent`), never a silent gap.
    skipped++;
    sent++;
    failed++;
    if (errors.length < 10) errors.push(`not sent at ${Math.round(due - t0)} ms: ${maxInFlight} requests in flight`);
    continue;
  }
  pending.push(one());
}
await Promise.all(pending);
const quantile = (list: number[], p: number) => {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted.length ? Number(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!.toFixed(2)) : null;
};
const q = (p: number) => quantile(latencies, p);
const windowP99 = windows.filter((w) => w !== undefined && w.length > 0).map((w) => quantile(w, 0.99)!);
process.stdout.write(
  `${JSON.stringify({ sent, ok: latencies.length + warm, measured: latencies.length, failed, skipped, statuses, errors, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1), windowP99, ms: Math.round(performance.now() - t0) })}\n`,
);

export {}; // a module: top-level await
