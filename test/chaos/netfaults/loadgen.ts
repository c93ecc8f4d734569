// Paced HTTP load over several entry nodes (round-robin), run as its own process so the test process
// stays idle. Prints one JSON line at the end (after --duration ms, or on SIGTERM).
//   bun loadgen.ts --urls http://a:8080/,http://b:8080/ --rate 40 --duration 30000 [--timeout 10000] [--max-in-flight 64]
// Each request is recorded as [startMs, entryIndex, status (0 = no response), backend, latencyMs].

export type LoadRecord = [number, number, number, string, number];

export interface LoadOutcome {
  /** Wall clock (epoch ms) of t = 0 for the records. */
  startedAt: number;
  /** Requests due, including the skipped ones. */
  sent: number;
  /** Requests without a 200, including the skipped ones: an unsent request is a failure. */
  failed: number;
  /** Requests not started because max-in-flight was reached (the entries were not answering); each is also
   * counted in `sent` and `failed` and recorded with status 0, so no scenario can pass by not sending. */
  skipped: number;
  records: LoadRecord[];
  errors: string[];
}

const rest = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? rest[i + 1]! : dflt;
};
const urls = opt("urls", "").split(",").filter(Boolean);
const rate = Number(opt("rate", "40"));
const duration = Number(opt("duration", "10000"));
const timeout = Number(opt("timeout", "10000"));
const maxInFlight = Number(opt("max-in-flight", "64"));
if (urls.length === 0) throw new Error("--urls is required");

const out: LoadOutcome = { startedAt: Date.now(), sent: 0, failed: 0, skipped: 0, records: [], errors: [] };
const t0 = performance.now();
let inFlight = 0;
let next = 0;
let stopping = false;

async function one(i: number): Promise<void> {
  const start = performance.now();
  const entry = i % urls.length;
  out.sent++;
  inFlight++;
  let status = 0;
  let backend = "";
  try {
    const r = await fetch(urls[entry]!, { signal: AbortSignal.timeout(timeout) });
    const body = await r.text();
    status = r.status;
    backend = r.headers.get("x-backend") ?? "";
    if (status !== 200) {
      out.failed++;
      if (out.errors.length < 20) out.errors.push(`${Math.round(start - t0)}ms ${urls[entry]} ${status} ${body.trim()}`);
    }
  } catch (e) {
    out.failed++;
    if (out.errors.length < 20) out.errors.push(`${Math.round(start - t0)}ms ${urls[entry]} ${String(e)}`);
  } finally {
    inFlight--;
  }
  out.records.push([Math.round(start - t0), entry, status, backend, Math.round(performance.now() - start)]);
}

const pending = new Set<Promise<void>>();
async function finish(): Promise<void> {
  stopping = true;
  await Promise.all(pending);
  out.records.sort((a, b) => a[0] - b[0]);
  console.log(JSON.stringify(out));
  process.exit(0);
}

// Paced by the clock, not by answers: a stalled entry node does not slow the offered load.
const tick = setInterval(() => {
  if (stopping) return;
  const now = performance.now() - t0;
  if (now >= duration) {
    clearInterval(tick);
    void finish();
    return;
  }
  const due = Math.floor((now * rate) / 1000);
  while (next < due) {
    const i = next++;
    if (inFlight >= maxInFlight) {
      out.skipped++;
      out.sent++;
      out.failed++;
      if (out.errors.length < 20) out.errors.push(`${Math.round(now)}ms ${urls[i % urls.length]} not sent: ${maxInFlight} requests in flight`);
      out.records.push([Math.round(now), i % urls.length, 0, "", 0]);
      continue;
    }
    const p = one(i);
    pending.add(p);
    void p.then(() => pending.delete(p));
  }
}, 5);
process.on("SIGTERM", () => void finish());
