// The active checks. tcp: open a connection, close it at once. http: GET a path on a fresh connection
// and judge the status line alone: no redirects are followed, and no more than 4 KiB is read waiting for
// it (the body is never read). DNS names are resolved by Bun.connect on every check, so a backend whose
// name starts resolving later simply comes up.

import { errorCodeOrMessage, formatHostPort } from "../netutil.ts";

export interface ProbeResult {
  ok: boolean;
  /** Why it failed (connect error code, "timeout", "status 500"). */
  error?: string;
  /** The status an http check got. */
  status?: number;
}

/** What an http check sends and accepts. */
export interface HttpCheck {
  path: string;
  /** Host header value; the backend's host:port when absent. */
  host?: string;
  expect: StatusRange;
}

export interface StatusRange {
  min: number;
  max: number;
}

/** "200-399" or "200" → a range; a string is the problem. */
export function parseExpect(v: string): StatusRange | string {
  const m = /^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$/.exec(v);
  if (m) {
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : Number(m[2]);
    if (min >= 100 && max <= 599 && min <= max) return { min, max };
  }
  return `"${v}" is not a status range; write e.g. "200-399" or "200"`;
}

/** How much of the answer an http check reads while looking for the status line. */
const MAX_READ = 4096;

type Judge = (chunk: Uint8Array) => ProbeResult | null;

/** Connects, sends `request` (if any), and resolves with what `judge` makes of the bytes (tcp: the open). */
function probe(host: string, port: number, timeoutMs: number, request: string | null, judge: Judge | null): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, error: "timeout" }), timeoutMs);
    Bun.connect({
      hostname: host,
      port,
      socket: {
        open(socket) {
          if (request === null) {
            finish({ ok: true });
            socket.end();
          } else socket.write(request);
        },
        connectError(_socket, err) {
          finish({ ok: false, error: errorCodeOrMessage(err) });
        },
        data(socket, d) {
          const r = judge?.(d);
          if (r) {
            finish(r);
            socket.terminate();
          }
        },
        close() {
          finish({ ok: false, error: "closed before a status line" });
        },
        error(_socket, err) {
          finish({ ok: false, error: err.message });
        },
      },
    }).then(
      (socket) => {
        // Timed out before the connection opened: do not leak it.
        if (done) socket.terminate();
      },
      (err: unknown) => finish({ ok: false, error: errorCodeOrMessage(err) }),
    );
  });
}

export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return probe(host, port, timeoutMs, null, null);
}

export function httpProbe(host: string, port: number, timeoutMs: number, check: HttpCheck): Promise<ProbeResult> {
  const hostHeader = check.host ?? formatHostPort(host, port);
  const request = `GET ${check.path} HTTP/1.1\r\nHost: ${hostHeader}\r\nUser-Agent: clusterclub-health\r\nAccept: */*\r\nConnection: close\r\n\r\n`;
  let seen = "";
  return probe(host, port, timeoutMs, request, (chunk) => {
    seen += Buffer.from(chunk.subarray(0, Math.max(0, MAX_READ - seen.length))).toString("latin1");
    const eol = seen.indexOf("\r\n");
    if (eol < 0) return seen.length >= MAX_READ ? { ok: false, error: "no status line in 4 KiB" } : null;
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(seen.slice(0, eol));
    if (!m) return { ok: false, error: "not an HTTP response" };
    const status = Number(m[1]);
    const ok = status >= check.expect.min && status <= check.expect.max;
    return ok ? { ok, status } : { ok, status, error: `status ${status}` };
  });
}
