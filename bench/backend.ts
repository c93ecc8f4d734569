// Benchmark backend: `bun bench/backend.ts <port>`. Bun.serve on 127.0.0.1, keep-alive, preallocated bodies.
//   GET /small   15-byte body        GET /64k   65536-byte body
//   GET /__stats {"requests","conns"} since the last reset; add ?reset to zero them after reading.
// `conns` counts new client TCP connections, identified by their source address:port (Bun.serve has no
// connection hook). A source port reused by a later connection within one window is counted once, so it is
// a lower bound; the harness flags windows where that can matter.

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error("usage: bun bench/backend.ts <port>");
  process.exit(2);
}

const SMALL = new TextEncoder().encode("hello, bench!!\n"); // 15 bytes
const BIG = new Uint8Array(65536).fill(0x61);
const HEADERS = { "content-type": "text/plain" };

let requests = 0;
let conns = 0;
let seenPorts = new Uint8Array(65536); // source ports seen from 127.0.0.1 in this window
let seenOther = new Set<string>();

function noteConnection(addr: { address: string; port: number } | null): void {
  if (addr === null) return;
  if (addr.address === "127.0.0.1" || addr.address === "::ffff:127.0.0.1") {
    if (seenPorts[addr.port] === 0) {
      seenPorts[addr.port] = 1;
      conns++;
    }
    return;
  }
  const key = `${addr.address}:${addr.port}`;
  if (!seenOther.has(key)) {
    seenOther.add(key);
    conns++;
  }
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  idleTimeout: 120,
  fetch(req, srv) {
    const path = req.url.slice(req.url.indexOf("/", 8));
    if (path === "/small" || path === "/64k") {
      requests++;
      noteConnection(srv.requestIP(req));
      return new Response(path === "/small" ? SMALL : BIG, { headers: HEADERS });
    }
    if (path.startsWith("/__stats")) {
      const body = JSON.stringify({ requests, conns });
      if (path.includes("reset")) {
        requests = 0;
        conns = 0;
        seenPorts = new Uint8Array(65536);
        seenOther = new Set();
      }
      return new Response(body, { headers: { "content-type": "application/json" } });
    }
    return new Response("not found\n", { status: 404 });
  },
});

console.log(`backend listening on ${server.hostname}:${server.port}`);
