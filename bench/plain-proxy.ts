// Reference column: the simplest Bun proxy (Bun.serve + fetch, round-robin), to show what ClusterClub adds
// or costs over the bare runtime. Usage: bun bench/plain-proxy.ts <config.toml> (reads [proxy] and [[backends]]).
import { parse } from "smol-toml";

interface Cfg { proxy: { listen_port: number }; backends: Array<{ address: string }> }
const cfg = parse(await Bun.file(process.argv[2] ?? "config.toml").text()) as unknown as Cfg;
const upstreams = cfg.backends.map((b) => `http://${b.address}`);
let next = 0;

Bun.serve({
  hostname: "127.0.0.1",
  port: cfg.proxy.listen_port,
  fetch(req) {
    const base = upstreams[next++ % upstreams.length];
    const url = base + req.url.slice(req.url.indexOf("/", 8));
    return fetch(url, { method: req.method, headers: req.headers, body: req.body, redirect: "manual", decompress: false });
  },
});
