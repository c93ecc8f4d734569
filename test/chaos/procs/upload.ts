// Uploads `bytes` to a URL path over a raw socket with a Content-Length, writing only as fast as the
// socket drains (and no faster than `rate` bytes/s when given), and reports how many bytes the kernel
// has accepted so far (the client's send rate).
//   bun upload.ts <host> <port> <path> <bytes> [rateBytesPerS]
// Prints {"event":"progress","sent","ms"} every 250 ms and {"event":"done","sent","status","body","ms"}.

const [host = "127.0.0.1", portText = "0", path = "/", bytesText = "0", rateText = "0"] = process.argv.slice(2);
const total = Number(bytesText);
const rate = Number(rateText);
let paced: ReturnType<typeof setTimeout> | undefined;
const CHUNK = Buffer.alloc(256 * 1024, 0x61);
const emit = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

let sent = 0;
let answer = "";
const t0 = performance.now();
const { promise: finished, resolve } = Promise.withResolvers<void>();

const sock = await Bun.connect({
  hostname: host,
  port: Number(portText),
  socket: {
    drain(s) {
      pump(s);
    },
    data(_s, d) {
      answer += Buffer.from(d).toString("latin1");
      const end = answer.indexOf("\r\n\r\n");
      const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(answer)?.[1] ?? -1);
      if (end >= 0 && len >= 0 && answer.length >= end + 4 + len) resolve();
    },
    close() {
      resolve();
    },
    error() {},
  },
});

function pump(s: typeof sock): void {
  while (sent < total) {
    if (rate > 0) {
      // Ahead of the pace: come back when it has caught up.
      const aheadMs = (sent / rate) * 1000 - (performance.now() - t0);
      if (aheadMs > 0) {
        paced ??= setTimeout(() => {
          paced = undefined;
          pump(s);
        }, aheadMs);
        return;
      }
    }
    const want = Math.min(CHUNK.length, total - sent);
    const n = s.write(want === CHUNK.length ? CHUNK : CHUNK.subarray(0, want));
    sent += Math.max(0, n);
    if (n < want) return; // the kernel buffer is full: wait for drain
  }
}

const progress = setInterval(() => emit({ event: "progress", sent, ms: Math.round(performance.now() - t0) }), 250);
sock.write(`POST ${path} HTTP/1.1\r\nHost: chaos-upload\r\nContent-Type: application/octet-stream\r\nContent-Length: ${total}\r\n\r\n`);
pump(sock);
await finished;
clearInterval(progress);
const end = answer.indexOf("\r\n\r\n");
emit({ event: "done", sent, status: Number(answer.slice(9, 12)) || 0, body: end >= 0 ? answer.slice(end + 4).trim() : "", ms: Math.round(performance.now() - t0) });
sock.end();
process.exit(0);

export {}; // a module: top-level await
