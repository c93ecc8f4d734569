// How the client's HTTP version is told on the shared TCP listener (src/proxy/protocol.ts): real requests
// over real sockets to a Bun.serve with http2 on, from HTTP/1.1 clients that order their fields
// differently and from HTTP/2 clients.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { looksLikeH2 } from "../../src/proxy/protocol.ts";
import { FLAG, FRAME, RawH2 } from "../helpers/h2raw.ts";

describe("looksLikeH2", () => {
  let server: ReturnType<typeof Bun.serve>;
  let verdict: boolean[] = [];

  beforeAll(() => {
    server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      http2: true,
      fetch(req) {
        verdict.push(looksLikeH2(req.headers));
        return new Response("ok");
      },
    });
  });
  afterAll(() => void server.stop(true));

  /** Sends one raw HTTP/1.1 head and waits for the answer. */
  async function h1(head: string): Promise<boolean> {
    verdict = [];
    let done!: () => void;
    const answered = new Promise<void>((r) => {
      done = r;
    });
    const s = await Bun.connect({ hostname: "127.0.0.1", port: server.port!, socket: { data: () => done() } });
    s.write(`GET / HTTP/1.1\r\n${head}\r\n`);
    await answered;
    s.end();
    return verdict[0]!;
  }

  test("HTTP/1.1: Host alone, Host first, Host among the fields (Bun's fetch), Host before Connection (Node's http)", async () => {
    expect(await h1("Host: a\r\n")).toBe(false);
    expect(await h1("Host: a\r\nUser-Agent: curl\r\nAccept: */*\r\nX-A: 1\r\n")).toBe(false);
    expect(await h1("Connection: keep-alive\r\nUser-Agent: Bun\r\nAccept: */*\r\nHost: a\r\nAccept-Encoding: gzip\r\n")).toBe(false);
    expect(await h1("Content-Type: text/plain\r\nX-A: 1\r\nHost: a\r\nConnection: keep-alive\r\nContent-Length: 0\r\n")).toBe(false);
    verdict = [];
    await (await fetch(`http://127.0.0.1:${server.port}/`, { headers: { "x-forwarded-for": "1.2.3.4", via: "1.0 x" } })).text();
    expect(verdict).toEqual([false]);
  });

  test("HTTP/2: fields of any kind before :authority's host, with and without unknown ones", async () => {
    const c = await RawH2.connect(server.port!);
    const authority = `127.0.0.1:${server.port}`;
    verdict = [];
    const ids = [
      c.request("/", authority, [["user-agent", "x"]]),
      c.request("/", authority, [["accept", "*/*"], ["x-a", "1"], ["cookie", "a=1"], ["x-b", "2"]]),
      c.request("/", authority, [["x-a", "1"], ["content-type", "text/plain"], ["x-forwarded-for", "1.2.3.4"]]),
    ];
    await c.until(() => ids.every((id) => c.received(FRAME.DATA, id).some((f) => f.flags & FLAG.END_STREAM)), 5000, "the answers");
    c.close();
    expect(verdict).toEqual([true, true, true]);
  });
});
