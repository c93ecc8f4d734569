// Slowloris: connections that trickle a request head one byte per second and never finish it.
//   bun slowloris.ts <host> <port> <fresh> <keepalive> <deadlineMs>
// "fresh" connections trickle from their first byte; "keepalive" ones first send one complete request,
// read the answer, then trickle the next. Prints {"event":"started"} once all trickle, then
// {"event":"done"} when the server has closed them all or the deadline passed: how many it closed,
// after how many seconds, and any responses it sent instead.

import type { Socket } from "bun";

const [host = "127.0.0.1", portText = "0", freshText = "0", keepText = "0", deadlineText = "30000"] = process.argv.slice(2);
const port = Number(portText);
const HEAD = `GET /slowloris HTTP/1.1\r\nHost: chaos-slowloris\r\nUser-Agent: slowloris\r\nX-Pad: ${"a".repeat(200)}\r\n`;
const enc = new TextEncoder();

interface Slow {
  kind: "fresh" | "keepalive";
  /** Bytes of HEAD sent so far; -1 while the complete first request is outstanding. */
  pos: number;
  startedAt: number;
  closedAt: number;
  buf: string;
  responses: string[];
  onFirstAnswer: (() => void) | undefined;
}

const conns: Socket<Slow>[] = [];
const connectErrors: Record<string, number> = {};

async function open(kind: Slow["kind"]): Promise<void> {
  try {
    const s = await Bun.connect<Slow>({
      hostname: host,
      port,
      data: { kind, pos: kind === "fresh" ? 0 : -1, startedAt: 0, closedAt: 0, buf: "", responses: [], onFirstAnswer: undefined },
      socket: {
        data(sock, chunk) {
          const c = sock.data;
          c.buf += Buffer.from(chunk).toString("latin1");
          const end = c.buf.indexOf("\r\n\r\n");
          if (end < 0) return;
          const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(c.buf.slice(0, end))?.[1] ?? 0);
          if (c.buf.length < end + 4 + len) return;
          const status = c.buf.slice(9, 12);
          c.buf = c.buf.slice(end + 4 + len);
          if (c.pos === -1 && c.onFirstAnswer) {
            c.pos = 0;
            c.onFirstAnswer();
          } else c.responses.push(status);
        },
        close(sock) {
          if (sock.data.closedAt === 0) sock.data.closedAt = performance.now();
          sock.data.onFirstAnswer?.();
        },
        error() {},
      },
    });
    if (kind === "keepalive") {
      await new Promise<void>((resolve) => {
        s.data.onFirstAnswer = resolve;
        s.write(enc.encode("GET / HTTP/1.1\r\nHost: chaos-slowloris\r\n\r\n"));
      });
      s.data.onFirstAnswer = undefined;
    }
    s.data.startedAt = performance.now();
    conns.push(s);
  } catch (e) {
    const k = (e as { code?: string }).code ?? String(e);
    connectErrors[k] = (connectErrors[k] ?? 0) + 1;
  }
}

const fresh = Number(freshText);
const keep = Number(keepText);
const kinds: Slow["kind"][] = [...Array<Slow["kind"]>(fresh).fill("fresh"), ...Array<Slow["kind"]>(keep).fill("keepalive")];
for (let i = 0; i < kinds.length; i += 250) await Promise.all(kinds.slice(i, i + 250).map(open));
const emit = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
emit({ event: "started", opened: conns.length, connectErrors });

// One byte per connection per second, spread over ten ticks so the node sees a steady trickle.
const TICKS = 10;
let tick = 0;
const open_ = () => conns.filter((c) => c.data.closedAt === 0);
const deadline = performance.now() + Number(deadlineText);
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    const slot = tick++ % TICKS;
    for (let i = slot; i < conns.length; i += TICKS) {
      const s = conns[i]!;
      const c = s.data;
      if (c.closedAt !== 0 || c.pos < 0 || c.pos >= HEAD.length) continue;
      s.write(HEAD[c.pos++]!);
    }
    if (open_().length === 0 || performance.now() > deadline) {
      clearInterval(timer);
      resolve();
    }
  }, 1000 / TICKS);
});

function stats(kind: Slow["kind"]) {
  const mine = conns.filter((c) => c.data.kind === kind);
  const closed = mine.filter((c) => c.data.closedAt !== 0);
  const after = closed.map((c) => (c.data.closedAt - c.data.startedAt) / 1000).sort((a, b) => a - b);
  const responses: Record<string, number> = {};
  for (const c of mine) for (const r of c.data.responses) responses[r] = (responses[r] ?? 0) + 1;
  const bytes = mine.map((c) => Math.max(0, c.data.pos));
  return {
    count: mine.length,
    closed: closed.length,
    open: mine.length - closed.length,
    closedAfterMinS: after.length ? Number(after[0]!.toFixed(1)) : null,
    closedAfterMaxS: after.length ? Number(after[after.length - 1]!.toFixed(1)) : null,
    maxBytesSent: Math.max(0, ...bytes),
    responses,
  };
}
emit({ event: "done", fresh: stats("fresh"), keepalive: stats("keepalive") });
for (const s of conns) s.end();
process.exit(0);
