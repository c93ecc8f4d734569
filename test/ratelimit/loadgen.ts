// Paced load for the rate-limit scenarios, run as its own process (in the lab's client namespace):
// several streams at once, each at its own rate over its own entry nodes, the key in a header, and
// every request recorded as [startMs, entry index, status (0 = no answer), request index].
//   bun loadgen.ts '<json Plan>'      prints one JSON line (LoadResult) when every stream has ended

export interface StreamPlan {
  id: string;
  urls: string[];
  /** Requests per second; request i goes to urls[i % n] with key keys[i % k]. */
  rate: number;
  startMs: number;
  durationMs: number;
  header: string;
  /** The key values, or `prefix` + 0…count-1. */
  keys: string[] | { prefix: string; count: number };
}

export interface LoadResult {
  startedAt: number;
  streams: Record<string, { records: [number, number, number, number][]; errors: string[] }>;
}

if (import.meta.main) {
  const plan = JSON.parse(process.argv[2] ?? "[]") as StreamPlan[];
  const MAX_IN_FLIGHT = 512;
  const out: LoadResult = { startedAt: Date.now(), streams: {} };
  const t0 = performance.now();
  const pending = new Set<Promise<void>>();
  const runs = plan.map((s) => {
    const keys = Array.isArray(s.keys) ? s.keys : Array.from({ length: s.keys.count }, (_, i) => `${(s.keys as { prefix: string }).prefix}${i}`);
    const rec = { records: [] as [number, number, number, number][], errors: [] as string[] };
    out.streams[s.id] = rec;
    let next = 0;
    let inFlight = 0;
    return new Promise<void>((done) => {
      const tick = setInterval(() => {
        const now = performance.now() - t0 - s.startMs;
        if (now < 0) return;
        const due = Math.min(Math.floor((now * s.rate) / 1000), Math.floor((s.durationMs * s.rate) / 1000));
        while (next < due) {
          const i = next++;
          const entry = i % s.urls.length;
          const at = Math.round(s.startMs + (i * 1000) / s.rate);
          if (inFlight >= MAX_IN_FLIGHT) {
            rec.records.push([at, entry, 0, i]);
            continue;
          }
          inFlight++;
          const p = fetch(s.urls[entry]!, { headers: { [s.header]: keys[i % keys.length]! }, signal: AbortSignal.timeout(5000) })
            .then(async (r) => {
              await r.arrayBuffer();
              rec.records.push([at, entry, r.status, i]);
            })
            .catch((e: unknown) => {
              rec.records.push([at, entry, 0, i]);
              if (rec.errors.length < 5) rec.errors.push(`${at}ms ${s.urls[entry]} ${String(e)}`);
            })
            .finally(() => {
              inFlight--;
              pending.delete(p);
            });
          pending.add(p);
        }
        if (now >= s.durationMs) {
          clearInterval(tick);
          done();
        }
      }, 2);
    });
  });
  await Promise.all(runs);
  await Promise.all(pending);
  console.log(JSON.stringify(out));
  process.exit(0);
}
