// The http check on real sockets, and a node using it against a backend whose /healthz fails while / serves.
import { describe, expect, test } from "bun:test";
import { httpProbe, parseExpect } from "../../src/health/probe.ts";
import { startBackend } from "../fixtures/backend.ts";
import { deadPort, startNode, until } from "../helpers/node.ts";

const OK = { min: 200, max: 399 };

describe("http probe", () => {
  test("passes on a status in range, fails outside it, and reports the status", async () => {
    const b = startBackend();
    try {
      expect(await httpProbe("127.0.0.1", b.port, 1000, { path: "/healthz", expect: OK })).toEqual({ ok: true, status: 200 });
      b.healthz = 500;
      expect(await httpProbe("127.0.0.1", b.port, 1000, { path: "/healthz", expect: OK })).toEqual({ ok: false, status: 500, error: "status 500" });
      expect((await httpProbe("127.0.0.1", b.port, 1000, { path: "/healthz", expect: { min: 500, max: 500 } })).ok).toBe(true);
    } finally {
      await b.stop();
    }
  });

  test("sends GET with the configured Host (default: the backend address) and follows no redirect", async () => {
    const seen: { method: string; host: string | null; path: string }[] = [];
    const srv = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const u = new URL(req.url);
        seen.push({ method: req.method, host: req.headers.get("host"), path: u.pathname });
        return u.pathname === "/moved" ? new Response(null, { status: 301, headers: { location: "/healthz" } }) : new Response("ok");
      },
    });
    const port = srv.port ?? 0;
    try {
      await httpProbe("127.0.0.1", port, 1000, { path: "/healthz", host: "api.internal", expect: OK });
      await httpProbe("127.0.0.1", port, 1000, { path: "/healthz", expect: OK });
      const r = await httpProbe("127.0.0.1", port, 1000, { path: "/moved", expect: { min: 200, max: 299 } });
      expect(r).toEqual({ ok: false, status: 301, error: "status 301" });
      await Bun.sleep(50);
      expect(seen).toEqual([
        { method: "GET", host: "api.internal", path: "/healthz" },
        { method: "GET", host: `127.0.0.1:${port}`, path: "/healthz" },
        { method: "GET", host: `127.0.0.1:${port}`, path: "/moved" },
      ]);
    } finally {
      await srv.stop(true);
    }
  });

  test("reads no more than 4 KiB looking for the status line; a silent backend times out; a closed port fails", async () => {
    let sent = 0;
    const babbler = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(s) {
          // 64 KiB without a line end, in pieces.
          for (let i = 0; i < 16; i++) sent += s.write("x".repeat(4096));
        },
      },
    });
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      expect(await httpProbe("127.0.0.1", babbler.port, 1000, { path: "/", expect: OK })).toEqual({ ok: false, error: "no status line in 4 KiB" });
      expect(sent).toBeGreaterThan(4096);
      expect(await httpProbe("127.0.0.1", silent.port, 150, { path: "/", expect: OK })).toEqual({ ok: false, error: "timeout" });
      expect((await httpProbe("127.0.0.1", deadPort(), 500, { path: "/", expect: OK })).ok).toBe(false);
    } finally {
      babbler.stop(true);
      silent.stop(true);
    }
  });

  test("expect ranges", () => {
    expect(parseExpect("200-399")).toEqual({ min: 200, max: 399 });
    expect(parseExpect("204")).toEqual({ min: 204, max: 204 });
    for (const bad of ["2xx", "399-200", "200-700", ""]) expect(typeof parseExpect(bad)).toBe("string");
  });
});

describe("a node with http checks", () => {
  test("a backend answering 500 on /healthz while serving / is taken out, shown with its status, and comes back", async () => {
    const a = startBackend({ name: "a" });
    const b = startBackend({ name: "b" });
    b.healthz = 500;
    const node = await startNode({
      backends: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`],
      health: 'type = "http"\npath = "/healthz"\ninterval = "100ms"\ntimeout = "100ms"\nrise = 1\nfall = 1',
    });
    try {
      // b still answers / itself, but the node sends it nothing.
      expect((await fetch(`http://127.0.0.1:${b.port}/`)).status).toBe(200);
      for (let i = 0; i < 6; i++) expect((await fetch(`${node.url}/`)).headers.get("x-backend")).toBe("a");
      type S = { backends: { status: string; last_status: number | null; last_error: string | null }[] };
      const s = (await (await fetch(`${node.adminUrl}/status`)).json()) as S;
      expect(s.backends.map((x) => [x.status, x.last_status, x.last_error])).toEqual([
        ["up", 200, null],
        ["down", 500, "status 500"],
      ]);
      const metrics = await (await fetch(`${node.adminUrl}/metrics`)).text();
      expect(metrics).toContain(`clusterclub_backend_last_check_status{pool="default",backend="127.0.0.1:${b.port}"} 500`);
      b.healthz = 204;
      await until(() => node.health.backends()[1]!.status === "up", 3000);
      const names = new Set<string>();
      for (let i = 0; i < 4; i++) names.add((await fetch(`${node.url}/`)).headers.get("x-backend") ?? "");
      expect(names).toEqual(new Set(["a", "b"]));
    } finally {
      await node.stop(0);
      await a.stop();
      await b.stop();
    }
  });
});
