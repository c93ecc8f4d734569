// One TCP connect check: open a connection, close it at once. DNS names are resolved by
// Bun.connect on every check, so a backend whose name starts resolving later simply comes up.

import { errorCodeOrMessage } from "../netutil.ts";

export interface ProbeResult {
  ok: boolean;
  /** Why it failed (connect error code, "timeout"). */
  error?: string;
}

export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
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
          finish({ ok: true });
          socket.end();
        },
        connectError(_socket, err) {
          finish({ ok: false, error: errorCodeOrMessage(err) });
        },
        data() {},
        error(_socket, err) {
          finish({ ok: false, error: err.message });
        },
      },
    }).then(
      (socket) => {
        // Timed out before the connection opened: do not leak it.
        if (done) socket.end();
      },
      (err: unknown) => finish({ ok: false, error: errorCodeOrMessage(err) }),
    );
  });
}
