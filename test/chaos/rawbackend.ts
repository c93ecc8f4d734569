// A raw TCP backend that records the exact bytes each request arrived with, so a test can prove what
// a backend saw (not what a lenient HTTP library made of it). It frames requests strictly (one
// Content-Length, or chunked with hex sizes) and answers each with a small 200; anything it cannot
// frame is recorded as `ambiguous` and the connection is closed, as a careful backend would.

import type { Socket, TCPSocketListener } from "bun";

export interface SeenRequest {
  /** The head exactly as received, up to and including the blank line. */
  head: string;
  /** The request line, e.g. "GET /x HTTP/1.1". */
  line: string;
  /** Header fields in order, names lower-cased, values trimmed. */
  headers: [string, string][];
  /** The body as framed by this backend. */
  body: Uint8Array;
  /** Index of the connection it came on. */
  conn: number;
}

export interface RawBackend {
  readonly port: number;
  readonly requests: SeenRequest[];
  /** Raw bytes this backend could not frame (with the reason); a test expects none. */
  readonly ambiguous: { reason: string; bytes: string; conn: number }[];
  /** Connections accepted. */
  connections: number;
  /** Values of a header over all requests whose request line contains `marker`. */
  header(marker: string, name: string): string[][];
  /** Requests whose request line contains `marker`. */
  find(marker: string): SeenRequest[];
  stop(): void;
}

interface ConnState {
  id: number;
  buf: Buffer;
}

const enc = new TextEncoder();
const MAX_HEAD = 256 * 1024;

function indexOfHeadEnd(buf: Buffer): number {
  return buf.indexOf("\r\n\r\n");
}

/** Parses one request from the front of `buf`; returns bytes consumed, 0 if incomplete, or a reason string. */
function takeRequest(buf: Buffer, conn: number, out: SeenRequest[]): number | string {
  const end = indexOfHeadEnd(buf);
  if (end < 0) return buf.length > MAX_HEAD ? "head too large" : 0;
  const head = buf.subarray(0, end + 4).toString("latin1");
  const lines = head.slice(0, -4).split("\r\n");
  if (/(^|[^\r])\n|\r(?!\n)/.test(head)) return "bare CR or LF in head";
  const line = lines[0]!;
  if (!/^[A-Z]+ \S+ HTTP\/1\.[01]$/.test(line)) return `bad request line ${JSON.stringify(line)}`;
  const headers: [string, string][] = [];
  for (const l of lines.slice(1)) {
    if (/^[ \t]/.test(l)) return "obs-fold";
    const c = l.indexOf(":");
    if (c <= 0 || /[\s]/.test(l.slice(0, c))) return `bad header line ${JSON.stringify(l.slice(0, 80))}`;
    headers.push([l.slice(0, c).toLowerCase(), l.slice(c + 1).trim()]);
  }
  const cls = headers.filter(([n]) => n === "content-length").map(([, v]) => v);
  const tes = headers.filter(([n]) => n === "transfer-encoding").map(([, v]) => v);
  if (cls.length > 0 && tes.length > 0) return "both Content-Length and Transfer-Encoding";
  if (cls.length > 1) return "more than one Content-Length";
  let pos = end + 4;
  let body: Uint8Array;
  if (tes.length > 0) {
    if (tes.length > 1 || tes[0]!.toLowerCase() !== "chunked") return `transfer-encoding ${JSON.stringify(tes.join(","))}`;
    const parts: Buffer[] = [];
    for (;;) {
      const eol = buf.indexOf("\r\n", pos);
      if (eol < 0) return 0;
      const sizeText = buf.subarray(pos, eol).toString("latin1");
      if (!/^[0-9a-fA-F]{1,15}$/.test(sizeText)) return `chunk size ${JSON.stringify(sizeText.slice(0, 40))}`;
      const size = parseInt(sizeText, 16);
      if (buf.length < eol + 2 + size + 2) return 0;
      if (size === 0) {
        // No trailers expected from a proxy: the chunked body ends with an empty line.
        if (buf.subarray(eol + 2, eol + 4).toString("latin1") !== "\r\n") return "trailers or missing final CRLF";
        pos = eol + 4;
        break;
      }
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      if (buf.subarray(eol + 2 + size, eol + 4 + size).toString("latin1") !== "\r\n") return "chunk not followed by CRLF";
      pos = eol + 4 + size;
    }
    body = new Uint8Array(Buffer.concat(parts));
  } else if (cls.length === 1) {
    if (!/^\d{1,15}$/.test(cls[0]!)) return `content-length ${JSON.stringify(cls[0])}`;
    const n = Number(cls[0]);
    if (buf.length < pos + n) return 0;
    body = new Uint8Array(buf.subarray(pos, pos + n));
    pos += n;
  } else {
    body = new Uint8Array(0);
  }
  out.push({ head, line, headers, body, conn });
  return pos;
}

const OK = enc.encode("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\nx-backend: raw\r\n\r\nok\n");

export function startRawBackend(hostname = "127.0.0.1"): RawBackend {
  let nextConn = 0;
  const requests: SeenRequest[] = [];
  const ambiguous: RawBackend["ambiguous"] = [];
  const self = { requests, ambiguous, connections: 0 } as RawBackend & { connections: number };
  const listener: TCPSocketListener<ConnState> = Bun.listen<ConnState>({
    hostname,
    port: 0,
    socket: {
      open(s) {
        s.data = { id: nextConn++, buf: Buffer.alloc(0) };
        self.connections++;
      },
      data(s: Socket<ConnState>, chunk) {
        const st = s.data;
        st.buf = st.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([st.buf, chunk]);
        for (;;) {
          const r = takeRequest(st.buf, st.id, requests);
          if (typeof r === "string") {
            ambiguous.push({ reason: r, bytes: st.buf.subarray(0, 2048).toString("latin1"), conn: st.id });
            s.end();
            return;
          }
          if (r === 0) return;
          st.buf = st.buf.subarray(r);
          s.write(OK);
        }
      },
    },
  });
  return Object.assign(self, {
    port: listener.port,
    find: (marker: string) => requests.filter((r) => r.line.includes(marker)),
    header: (marker: string, name: string) =>
      requests.filter((r) => r.line.includes(marker)).map((r) => r.headers.filter(([n]) => n === name).map(([, v]) => v)),
    stop: () => listener.stop(true),
  });
}
