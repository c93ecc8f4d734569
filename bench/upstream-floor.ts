// The floor of a Bun proxy on Bun.connect, for /small only: Bun.serve in, a raw keep-alive socket out,
// a fixed request, no header handling, no parsing beyond finding the body, no abort wiring. Whatever
// UpstreamClient costs above this is the price of doing HTTP properly; the rest is the runtime.
// Usage (same config as plain-proxy.ts): bun bench/upstream-floor.ts <config.toml>
// Not a proxy to use: it assumes every response is one read and every path is /small.
import type { Socket } from "bun";
import { parse } from "smol-toml";

interface Cfg { proxy: { listen_port: number }; backends: Array<{ address: string }> }
interface Up { resolve: ((r: Response) => void) | null; pool: Socket<Up>[] }

const cfg = parse(await Bun.file(process.argv[2] ?? "config.toml").text()) as unknown as Cfg;
const ups = cfg.backends.map((b) => {
  const i = b.address.lastIndexOf(":");
  return { host: b.address.slice(0, i), port: Number(b.address.slice(i + 1)), pool: [] as Socket<Up>[] };
});
const CRLF2 = Buffer.from("\r\n\r\n");
const REQ = Buffer.from("GET /small HTTP/1.1\r\nhost: x\r\n\r\n");
const HEADERS = { "content-type": "text/plain" };
let next = 0;

Bun.serve({
  hostname: "127.0.0.1",
  port: cfg.proxy.listen_port,
  async fetch() {
    const up = ups[next++ % ups.length]!;
    const s =
      up.pool.pop() ??
      (await Bun.connect<Up>({
        hostname: up.host,
        port: up.port,
        data: { resolve: null, pool: up.pool },
        socket: {
          data(sock, d) {
            const st = sock.data;
            const done = st.resolve!;
            st.resolve = null;
            st.pool.push(sock);
            done(new Response(d.subarray(d.indexOf(CRLF2) + 4), { headers: HEADERS }));
          },
        },
      }));
    return new Promise<Response>((resolve) => {
      s.data.resolve = resolve;
      s.write(REQ);
    });
  },
});
