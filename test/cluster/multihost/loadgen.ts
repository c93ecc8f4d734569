// Load generator run inside the client namespace. Prints one JSON line with the outcome.
//   bun loadgen.ts <url> --count N | --duration MS [--concurrency C]
// Counts per backend (x-backend), hop counts (entries in the Via the backend saw), statuses, failures.

const [url, ...rest] = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? Number(rest[i + 1]) : dflt;
};
const count = opt("count", 0);
const duration = opt("duration", 0);
const concurrency = opt("concurrency", 4);

const result = {
  sent: 0,
  ok: 0,
  failed: 0,
  statuses: {} as Record<string, number>,
  byBackend: {} as Record<string, number>,
  hops: {} as Record<string, number>,
  errors: [] as string[],
  timeline: [] as [number, string][],
};
const t0 = performance.now();
const deadline = t0 + duration;

async function one(): Promise<void> {
  result.sent++;
  try {
    const r = await fetch(url!, { signal: AbortSignal.timeout(10_000) });
    const body = await r.text();
    result.statuses[r.status] = (result.statuses[r.status] ?? 0) + 1;
    if (r.status !== 200) {
      result.failed++;
      if (result.errors.length < 20) result.errors.push(`${r.status} ${body.trim()}`);
      return;
    }
    result.ok++;
    const b = r.headers.get("x-backend") ?? "?";
    result.byBackend[b] = (result.byBackend[b] ?? 0) + 1;
    const via = r.headers.get("x-seen-via") ?? "";
    const hops = via === "" ? 0 : via.split(",").length;
    result.hops[hops] = (result.hops[hops] ?? 0) + 1;
    if (duration > 0) result.timeline.push([Math.round(performance.now() - t0), b]);
  } catch (e) {
    result.failed++;
    if (result.errors.length < 20) result.errors.push(String(e));
  }
}

async function worker(): Promise<void> {
  for (;;) {
    if (count > 0 && result.sent >= count) return;
    if (duration > 0 && performance.now() >= deadline) return;
    await one();
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
console.log(JSON.stringify(result));
export {};
