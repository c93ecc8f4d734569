// HTTP/3 (and, for reference, HTTP/2) load from Bun's own client, since Debian has no h3 load tool:
//   bun bench/h2load.ts <url> <h3|h2> <concurrency> <seconds>
// `concurrency` fetch loops on one client; prints one JSON line: {rps, p50Us, p99Us, errors, requests}.
// The certificate is not verified (Bun 1.4.4's h3 client takes no custom CA; loopback only).

const [url, proto, concArg, secsArg] = process.argv.slice(2);
if (!url || (proto !== "h3" && proto !== "h2")) {
  console.error("usage: bun bench/h2load.ts <url> <h3|h2> <concurrency> <seconds>");
  process.exit(2);
}
const conc = Number(concArg ?? 16);
const secs = Number(secsArg ?? 5);
const init = { protocol: proto === "h3" ? "http3" : "http2", tls: { rejectUnauthorized: false } } as RequestInit;

const lat: number[] = [];
let errors = 0;
const end = performance.now() + secs * 1000;
async function loop(): Promise<void> {
  while (performance.now() < end) {
    const t0 = performance.now();
    try {
      const r = await fetch(url!, init);
      await r.arrayBuffer();
      if (r.status === 200) lat.push(performance.now() - t0);
      else errors++;
    } catch {
      errors++;
    }
  }
}
const t0 = performance.now();
await Promise.all(Array.from({ length: conc }, loop));
const took = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const q = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]! * 1000 : NaN);
console.log(JSON.stringify({ rps: lat.length / took, p50Us: q(0.5), p99Us: q(0.99), errors, requests: lat.length }));
export {};
