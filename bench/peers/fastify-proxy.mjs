// Peer column `fastify`: Node.js + Fastify + @fastify/http-proxy (which forwards with @fastify/reply-from over
// undici), one process, logger off. @fastify/http-proxy takes one `upstream`; for round-robin over both
// backends a user passes reply-from's `getUpstream` through `replyOptions` (the plugin calls it per request),
// rather than registering the plugin twice under different route constraints. With no fixed upstream,
// reply-from uses an undici Agent: one pool per backend, keep-alive, its defaults (128 connections, no
// pipelining).
// Usage: node bench/peers/fastify-proxy.mjs <config.toml>
import Fastify from "fastify";
import httpProxy from "@fastify/http-proxy";
import { readConfig } from "./config.mjs";

const { port, upstreams } = readConfig();
let next = 0;

const app = Fastify({ logger: false });
await app.register(httpProxy, {
  upstream: "",
  replyOptions: { getUpstream: () => upstreams[next++ % upstreams.length] },
});
await app.listen({ host: "127.0.0.1", port });
