// Experimental proxy for comparing upstream clients under the same Bun.serve front: round-robin over the
// backends, request headers passed through as bench/plain-proxy.ts does, errors answered 502.
//   bun bench/upstream-proxy.ts <config.toml>          UpstreamClient (src/proxy/upstream)
//   UPSTREAM_IMPL=fetch bun bench/upstream-proxy.ts …  fetch, exactly like plain-proxy.ts
// Client options from the environment: UP_MAX_IDLE, UP_MAX_CONNS, UP_COLLECT (bytes; 0 = always stream),
// UP_DIRECT (1 = Bun direct streams, 0 = standard ReadableStream).
// Use it in the harness's clusterclub column: CC_CMD="bun bench/upstream-proxy.ts" bun run bench
// SIGUSR2 prints the client's pool stats to stdout (the harness keeps it in the column's log).
import { parse } from "smol-toml";
import { UpstreamClient, UpstreamError, type UpstreamTarget } from "../src/proxy/upstream/client.ts";

interface Cfg { proxy: { listen_port: number }; backends: Array<{ address: string }> }
const cfg = parse(await Bun.file(process.argv[2] ?? "config.toml").text()) as unknown as Cfg;
const impl = process.env.UPSTREAM_IMPL ?? "client";
const num = (name: string): number | undefined => (process.env[name] ? Number(process.env[name]) : undefined);

const targets: UpstreamTarget[] = cfg.backends.map((b) => {
  const i = b.address.lastIndexOf(":");
  return { host: b.address.slice(0, i), port: Number(b.address.slice(i + 1)) };
});
const origins = cfg.backends.map((b) => `http://${b.address}`);
const client = new UpstreamClient({
  maxIdlePerTarget: num("UP_MAX_IDLE"),
  maxConnsPerTarget: num("UP_MAX_CONNS"),
  collectBodyMaxBytes: num("UP_COLLECT"),
  directBody: process.env.UP_DIRECT ? process.env.UP_DIRECT === "1" : undefined,
});
let next = 0;
// UP_SIGNAL=0 passes a signal that never aborts instead of req.signal, to measure what the signal costs.
const useReqSignal = process.env.UP_SIGNAL !== "0";
const NEVER = new AbortController().signal;

function pathOf(url: string): string {
  return url.slice(url.indexOf("/", 8));
}

function bad(e: unknown): Response {
  const code = e instanceof UpstreamError ? `${e.failure} ${e.code}` : String(e);
  return new Response(`502 ${code}\n`, { status: 502 });
}

Bun.serve({
  hostname: "127.0.0.1",
  port: cfg.proxy.listen_port,
  idleTimeout: 120,
  fetch:
    impl === "fetch"
      ? (req) => {
          const url = origins[next++ % origins.length] + pathOf(req.url);
          return fetch(url, { method: req.method, headers: req.headers, body: req.body, redirect: "manual", decompress: false });
        }
      : (req) => {
          const t = targets[next++ % targets.length]!;
          const body = req.method === "GET" || req.method === "HEAD" ? null : req.body;
          return client.request(t, req.method, pathOf(req.url), req.headers, body, useReqSignal ? req.signal : NEVER).catch(bad);
        },
});

process.on("SIGUSR2", () => console.log(JSON.stringify({ impl, ...client.stats() })));
console.log(`upstream-proxy (${impl}) on 127.0.0.1:${cfg.proxy.listen_port}`);
// Exit through process.exit so `bun --cpu-prof` writes its profile.
process.on("SIGTERM", () => {
  console.log(JSON.stringify({ impl, exit: true, ...client.stats() }));
  process.exit(0);
});
process.on("SIGINT", () => process.exit(0));
