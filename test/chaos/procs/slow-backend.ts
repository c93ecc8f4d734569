// A backend that reads request bodies slowly: it stops reading its socket (TCP backpressure) whenever
// it is ahead of `rate` bytes per second, for the first `slowMs`, then reads at full speed.
//   bun slow-backend.ts <rateBytesPerS> <slowMs>
// Prints {"event":"listening","port"} first, then {"event":"progress","received","ms"} every 250 ms
// while a body flows, and {"event":"done","received","framing"} when a body is complete (answered
// with its length). Bodies may come with a Content-Length or chunked.

import type { Socket } from "bun";

const rate = Number(process.argv[2] ?? 20_000_000);
const slowMs = Number(process.argv[3] ?? 0);

interface Conn {
  head: Buffer;
  framing: "none" | "length" | "chunked";
  /** Length framing: body bytes still expected. Chunked: bytes left in the current chunk. */
  left: number;
  /** Chunked: the partial size line or CRLF being read. */
  line: string;
  chunkState: "size" | "data" | "data-crlf" | "trailer";
  /** Body bytes (payload only, no chunk framing). */
  received: number;
  startedAt: number;
  resumeTimer: ReturnType<typeof setTimeout> | undefined;
  progress: ReturnType<typeof setInterval> | undefined;
}

const emit = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

function finish(s: Socket<Conn>): void {
  const c = s.data;
  clearInterval(c.progress);
  emit({ event: "done", received: c.received, framing: c.framing, ms: Math.round(performance.now() - c.startedAt) });
  const body = `${c.received}\n`;
  s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
  c.framing = "none";
  c.head = Buffer.alloc(0);
}

/** Consumes body bytes; returns true when the body is complete. */
function consume(c: Conn, b: Buffer): boolean {
  if (c.framing === "length") {
    c.received += b.length;
    c.left -= b.length;
    return c.left <= 0;
  }
  let i = 0;
  while (i < b.length) {
    if (c.chunkState === "data") {
      const n = Math.min(c.left, b.length - i);
      c.received += n;
      c.left -= n;
      i += n;
      if (c.left === 0) c.chunkState = "data-crlf";
      continue;
    }
    const ch = String.fromCharCode(b[i++]!);
    c.line += ch;
    if (!c.line.endsWith("\r\n")) continue;
    const line = c.line.slice(0, -2);
    c.line = "";
    if (c.chunkState === "data-crlf") {
      c.chunkState = "size";
    } else if (c.chunkState === "size") {
      c.left = parseInt(line.split(";")[0]!, 16);
      c.chunkState = c.left === 0 ? "trailer" : "data";
    } else if (line === "") {
      return true;
    }
  }
  return false;
}

function onBody(s: Socket<Conn>, b: Buffer): void {
  const c = s.data;
  if (consume(c, b)) return finish(s);
  const elapsed = performance.now() - c.startedAt;
  if (elapsed >= slowMs) return;
  // Ahead of the allowed rate: stop reading until the rate catches up.
  const dueMs = (c.received / rate) * 1000;
  if (dueMs > elapsed) {
    s.pause();
    c.resumeTimer = setTimeout(() => s.resume(), Math.min(dueMs, slowMs) - elapsed);
  }
}

const server = Bun.listen<Conn>({
  hostname: "127.0.0.1",
  port: 0,
  socket: {
    open(s) {
      s.data = { head: Buffer.alloc(0), framing: "none", left: 0, line: "", chunkState: "size", received: 0, startedAt: 0, resumeTimer: undefined, progress: undefined };
    },
    data(s, chunk) {
      const c = s.data;
      if (c.framing !== "none") return onBody(s, Buffer.from(chunk));
      c.head = Buffer.concat([c.head, chunk]);
      const end = c.head.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = c.head.subarray(0, end).toString("latin1");
      const rest = c.head.subarray(end + 4);
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
      c.received = 0;
      c.startedAt = performance.now();
      if (chunked) {
        c.framing = "chunked";
        c.chunkState = "size";
        c.line = "";
      } else if (cl) {
        c.framing = "length";
        c.left = Number(cl[1]);
      } else {
        c.framing = "length";
        c.left = 0;
      }
      c.progress = setInterval(() => emit({ event: "progress", received: c.received, ms: Math.round(performance.now() - c.startedAt) }), 250);
      onBody(s, rest);
    },
    close(s) {
      clearTimeout(s.data.resumeTimer);
      clearInterval(s.data.progress);
    },
  },
});
emit({ event: "listening", port: server.port });
