// What the runtime charges per request for the calls a proxy cannot avoid, measured inside a live
// Bun.serve handler (so the objects are the real ones): `server.requestIP(req)` (a getpeername(2)
// syscall on every call: Bun.serve has no per-connection hook to read it once), a Headers read, the
// request URL, and building the Response a proxy returns (Headers + Response for a small body).
//   bun bench/bun-costs.ts
// Numbers are per call, from a tight loop of N calls; they bound what the JS side of a request can save.
export {};
const N = 100_000;
const FIELDS = ["content-type", "text/plain", "date", "Mon, 30 Nov 2026 10:00:00 GMT", "content-length", "15"];
const BODY = new Uint8Array(15);

function perCall(fn: () => unknown): string {
  for (let i = 0; i < 1000; i++) fn();
  const t = performance.now();
  for (let i = 0; i < N; i++) fn();
  return `${(((performance.now() - t) * 1000) / N).toFixed(3)} µs`;
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(req, srv) {
    const rows: [string, string][] = [
      ["server.requestIP(req)", perCall(() => srv.requestIP(req))],
      ["req.headers.get(name)", perCall(() => req.headers.get("host"))],
      ["req.url", perCall(() => req.url)],
      ["new AbortController()", perCall(() => new AbortController())],
      [
        "Headers ×3 fields + new Response(15 B)",
        perCall(() => {
          const h = new Headers();
          for (let i = 0; i < FIELDS.length; i += 2) h.append(FIELDS[i]!, FIELDS[i + 1]!);
          return new Response(BODY, { status: 200, headers: h });
        }),
      ],
    ];
    return new Response(rows.map(([k, v]) => `${k.padEnd(40)} ${v}`).join("\n") + "\n");
  },
});
console.log(`bun ${Bun.version}\n` + (await (await fetch(`http://127.0.0.1:${server.port}/`)).text()));
server.stop(true);
