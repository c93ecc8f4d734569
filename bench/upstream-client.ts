// Client-only cost: N concurrent request loops against bench/backend.ts (spawned here), no proxy front,
// so the number is what the upstream side of a proxy costs per request. Compares fetch and UpstreamClient
// in interleaved rounds; prints medians of requests/s and CPU µs per request of this process (all threads).
//   bun bench/upstream-client.ts [path=/small] [concurrency=64] [seconds=3] [rounds=3]
import { UpstreamClient } from "../src/proxy/upstream/client.ts";
import { median } from "./lib/report.ts";
import { freePort } from "./lib/targets.ts";

const path = process.argv[2] ?? "/small";
const conc = Number(process.argv[3] ?? 64);
const secs = Number(process.argv[4] ?? 3);
const rounds = Number(process.argv[5] ?? 3);

const port = await freePort();
const backend = Bun.spawn(["bun", new URL("./backend.ts", import.meta.url).pathname, String(port)], { stdout: "ignore" });
process.on("exit", () => backend.kill());
for (let i = 0; i < 100; i++) {
  try {
    await (await fetch(`http://127.0.0.1:${port}/small`)).text();
    break;
  } catch {
    await Bun.sleep(50);
  }
}

const target = { host: "127.0.0.1", port };
const url = `http://127.0.0.1:${port}${path}`;
const client = new UpstreamClient();
const never = new AbortController().signal;
const headers = new Headers({ "user-agent": "bench", accept: "*/*" });

type Impl = () => Promise<Response>;
const impls: Record<string, Impl> = {
  fetch: () => fetch(url, { headers, redirect: "manual", decompress: false } as RequestInit),
  client: () => client.request(target, "GET", path, headers, null, never),
};

async function run(impl: Impl, ms: number): Promise<{ rps: number; cpuUs: number }> {
  let n = 0;
  const end = performance.now() + ms;
  const c0 = process.cpuUsage();
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      const r = await impl();
      await r.arrayBuffer();
      n++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: conc }, loop));
  const dt = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { rps: n / dt, cpuUs: (c.user + c.system) / n };
}

const res: Record<string, { rps: number[]; cpu: number[] }> = {};
for (const name of Object.keys(impls)) {
  await run(impls[name]!, 500); // warm-up
  res[name] = { rps: [], cpu: [] };
}
for (let r = 0; r < rounds; r++) {
  for (const name of r % 2 ? Object.keys(impls).reverse() : Object.keys(impls)) {
    const x = await run(impls[name]!, secs * 1000);
    res[name]!.rps.push(x.rps);
    res[name]!.cpu.push(x.cpuUs);
  }
}
for (const [name, v] of Object.entries(res)) {
  console.log(`${path} c${conc} ${name.padEnd(7)} ${median(v.rps).toFixed(0).padStart(6)} req/s  ${median(v.cpu).toFixed(1).padStart(6)} µs CPU/req   rounds: ${v.cpu.map((x) => x.toFixed(1)).join(" ")}`);
}
console.log("client pool:", JSON.stringify(client.stats()));
client.close();
backend.kill();
process.exit(0);
