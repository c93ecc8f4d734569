// Peer column `nodehttpproxy`: Node.js + http-proxy-3 (the maintained fork of node-http-proxy), one process,
// round-robin over the backends, written the way its README sets up a reverse proxy: http.createServer +
// proxy.web(req, res, { target }), plus a keep-alive http.Agent so upstream connections are reused
// (without an agent http-proxy sends `Connection: close` upstream and opens a connection per request).
// Usage: node bench/peers/node-http-proxy.mjs <config.toml>
import http from "node:http";
import { createProxyServer } from "http-proxy-3";
import { readConfig } from "./config.mjs";

const { port, upstreams } = readConfig();
// maxSockets is per host:port, so up to 128 per backend: enough for c256 spread over two backends
// without queueing much, the same order as nginx's `keepalive 64` idle pool and undici's default 128.
const agent = new http.Agent({ keepAlive: true, maxSockets: 128, maxFreeSockets: 128 });
const proxy = createProxyServer({ agent, xfwd: false });
proxy.on("error", (err, _req, res) => {
  // res is a ServerResponse for web requests; answer 502 once, as a user would.
  if (res && "headersSent" in res && !res.headersSent) {
    res.writeHead(502, { "content-type": "text/plain" });
    res.end("bad gateway\n");
  } else res?.destroy?.();
});

let next = 0;
http
  .createServer((req, res) => {
    proxy.web(req, res, { target: upstreams[next++ % upstreams.length] });
  })
  .listen(port, "127.0.0.1");
