// Many keep-alive clients that each send one request and then sit idle, in one process of their own.
//   bun idle.ts <host> <port> <count> [path]
// Prints JSON lines: {"event":"ready",...} once every connection has its answer (or failed), then
// answers commands on stdin: "again" (one more request on every open connection), "check" (how many
// are still open), "exit".

import type { Socket } from "bun";

const [host = "127.0.0.1", portText = "0", countText = "0", path = "/"] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const BATCH = 500;

interface Conn {
  buf: string;
  /** Resolves with the status of the response in progress. */
  pending: ((status: number) => void) | undefined;
  open: boolean;
  closedByPeer: boolean;
}

const request = new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: chaos-idle\r\nConnection: keep-alive\r\n\r\n`);
const sockets: Socket<Conn>[] = [];
const statuses: Record<string, number> = {};
const errors: Record<string, number> = {};
let closedByPeer = 0;

function count1(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

/** Pulls one complete response (head + Content-Length body) off the buffer; returns its status. */
function takeResponse(c: Conn): number | undefined {
  const end = c.buf.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const head = c.buf.slice(0, end);
  const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
  if (c.buf.length < end + 4 + len) return undefined;
  c.buf = c.buf.slice(end + 4 + len);
  return Number(head.slice(9, 12));
}

function ask(s: Socket<Conn>): Promise<number> {
  return new Promise<number>((resolve) => {
    s.data.pending = resolve;
    s.write(request);
  });
}

async function openOne(): Promise<void> {
  try {
    const s = await Bun.connect<Conn>({
      hostname: host,
      port,
      data: { buf: "", pending: undefined, open: true, closedByPeer: false },
      socket: {
        data(sock, chunk) {
          const c = sock.data;
          c.buf += Buffer.from(chunk).toString("latin1");
          const status = takeResponse(c);
          if (status !== undefined && c.pending) {
            const p = c.pending;
            c.pending = undefined;
            p(status);
          }
        },
        close(sock) {
          const c = sock.data;
          if (c.open) {
            c.open = false;
            c.closedByPeer = true;
            closedByPeer++;
          }
          c.pending?.(0);
          c.pending = undefined;
        },
        error(sock, e) {
          count1(errors, (e as { code?: string }).code ?? e.message);
        },
      },
    });
    sockets.push(s);
    const status = await ask(s);
    count1(statuses, String(status));
  } catch (e) {
    count1(errors, (e as { code?: string }).code ?? String(e));
  }
}

const t0 = performance.now();
for (let i = 0; i < count; i += BATCH) {
  await Promise.all(Array.from({ length: Math.min(BATCH, count - i) }, openOne));
}
const openNow = () => sockets.filter((s) => s.data.open).length;
const emit = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
emit({ event: "ready", ms: Math.round(performance.now() - t0), opened: sockets.length, open: openNow(), statuses, errors });

for await (const line of console) {
  const cmd = line.trim();
  if (cmd === "again") {
    const t1 = performance.now();
    const again: Record<string, number> = {};
    const live = sockets.filter((s) => s.data.open);
    for (let i = 0; i < live.length; i += BATCH) {
      const part = await Promise.all(live.slice(i, i + BATCH).map(ask));
      for (const st of part) count1(again, String(st));
    }
    emit({ event: "again", ms: Math.round(performance.now() - t1), asked: live.length, statuses: again });
  } else if (cmd === "check") {
    emit({ event: "check", open: openNow(), closedByPeer });
  } else if (cmd === "exit") {
    for (const s of sockets) {
      s.data.open = false;
      s.end();
    }
    emit({ event: "bye" });
    process.exit(0);
  }
}
