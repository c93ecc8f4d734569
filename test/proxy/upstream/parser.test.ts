import { describe, expect, test } from "bun:test";
import { ParseError } from "../../../src/proxy/upstream/errors.ts";
import {
  DEFAULT_LIMITS,
  FRAMING_CHUNKED,
  FRAMING_CLOSE,
  FRAMING_LENGTH,
  FRAMING_NONE,
  type ResponseHead,
  ResponseParser,
} from "../../../src/proxy/upstream/parser.ts";

interface Parsed {
  heads: ResponseHead[];
  body: string;
  done: boolean;
  used: number;
}

/** Feeds `input` in pieces of `step` bytes (0 = all at once); returns what the sink saw. */
function parse(input: string | Buffer, opts: { step?: number; expectBody?: boolean; eof?: boolean; limits?: typeof DEFAULT_LIMITS } = {}): Parsed {
  const buf = typeof input === "string" ? Buffer.from(input, "latin1") : input;
  const heads: ResponseHead[] = [];
  const chunks: Buffer[] = [];
  const p = new ResponseParser(opts.limits ?? DEFAULT_LIMITS);
  p.reset({ onHead: (h) => heads.push(h), onBody: (c) => chunks.push(Buffer.from(c)) }, opts.expectBody ?? true);
  const step = opts.step || buf.length;
  let used = 0;
  for (let i = 0; i < buf.length && !p.done; i += step) {
    // Each piece is its own Buffer, as socket reads are.
    const piece = Buffer.from(buf.subarray(i, Math.min(buf.length, i + step)));
    used = i + p.execute(piece);
  }
  if (opts.eof) p.finish();
  return { heads, body: Buffer.concat(chunks).toString("latin1"), done: p.done, used };
}

function parseError(input: string, opts: Parameters<typeof parse>[1] = {}): string {
  try {
    parse(input, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(ParseError);
    return (e as ParseError).code;
  }
  throw new Error("no ParseError");
}

const CHUNKED =
  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n" +
  "5;name=value\r\nhello\r\n" +
  "1 ; ext\r\n,\r\n" +
  "6\r\n world\r\n" +
  "0\r\nTrailer-One: x\r\nTrailer-Two: y\r\n\r\n";

describe("ResponseParser", () => {
  test("status, reason, fields in order with repeated Set-Cookie, Content-Length body", () => {
    const r = parse("HTTP/1.1 201 Created Here\r\nSet-Cookie: a=1\r\nX-Obs: caf\xe9\r\nSet-Cookie: b=2\r\nContent-Length: 5\r\n\r\nhello");
    expect(r.done).toBe(true);
    const h = r.heads[0]!;
    expect(h.status).toBe(201);
    expect(h.reason).toBe("Created Here");
    expect(h.fields).toEqual(["Set-Cookie", "a=1", "X-Obs", "caf\xe9", "Set-Cookie", "b=2", "Content-Length", "5"]);
    expect(h.framing).toBe(FRAMING_LENGTH);
    expect(h.contentLength).toBe(5);
    expect(h.keepAlive).toBe(true);
    expect(r.body).toBe("hello");
  });

  test("every split point gives the same result (head, chunked body, trailers)", () => {
    const whole = parse(CHUNKED);
    expect(whole.body).toBe("hello, world");
    expect(whole.done).toBe(true);
    expect(whole.heads[0]!.framing).toBe(FRAMING_CHUNKED);
    // Transfer-Encoding is consumed by the parser and not passed on.
    expect(whole.heads[0]!.fields).toEqual(["X-A", "1"]);
    for (let step = 1; step <= 17; step++) {
      const r = parse(CHUNKED, { step });
      expect(r.body).toBe("hello, world");
      expect(r.done).toBe(true);
      expect(r.heads.length).toBe(1);
    }
  });

  test("returns how many bytes belonged to the response; the rest is not consumed", () => {
    const r = parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA");
    expect(r.body).toBe("ok");
    expect(r.used).toBe("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".length);
  });

  test("1xx interim heads are skipped; 101 is refused", () => {
    const r = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", { step: 7 });
    expect(r.heads.map((h) => h.status)).toEqual([200]);
    expect(r.body).toBe("x");
    expect(parseError("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")).toBe("upgrade_unsupported");
  });

  test("no body for HEAD, 204 and 304 even with a length", () => {
    const head = parse("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", { expectBody: false });
    expect(head.done).toBe(true);
    expect(head.heads[0]!.framing).toBe(FRAMING_NONE);
    expect(parse("HTTP/1.1 204 No Content\r\n\r\n").done).toBe(true);
    expect(parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n").done).toBe(true);
    expect(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").done).toBe(true);
  });

  test("close-delimited body ends at EOF and is not keep-alive", () => {
    const r = parse("HTTP/1.1 200 OK\r\n\r\nuntil the end", { eof: true });
    expect(r.heads[0]!.framing).toBe(FRAMING_CLOSE);
    expect(r.heads[0]!.keepAlive).toBe(false);
    expect(r.body).toBe("until the end");
    expect(r.done).toBe(true);
  });

  test("keep-alive: Connection close, HTTP/1.0 default and HTTP/1.0 keep-alive", () => {
    expect(parse("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n").heads[0]!.keepAlive).toBe(false);
    expect(parse("HTTP/1.1 200 OK\r\nConnection: foo, close\r\nContent-Length: 0\r\n\r\n").heads[0]!.keepAlive).toBe(false);
    expect(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").heads[0]!.keepAlive).toBe(false);
    expect(parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").heads[0]!.keepAlive).toBe(true);
  });

  test("EOF before the end is 'truncated', before any byte is 'closed'", () => {
    expect(parseError("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", { eof: true })).toBe("truncated");
    const p = new ResponseParser();
    p.reset({ onHead() {}, onBody() {} }, true);
    expect(() => p.finish()).toThrow("closed");
  });

  test("smuggling defences: CL with TE, bad or conflicting lengths, unknown codings", () => {
    expect(parseError("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")).toBe("cl_and_te");
    expect(parseError("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")).toBe("bad_content_length");
    expect(parseError("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n")).toBe("bad_content_length");
    expect(parseError("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n")).toBe("bad_content_length");
    expect(parseError("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n")).toBe("bad_content_length");
    expect(parseError("HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n")).toBe("bad_content_length");
    expect(parseError("HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456\r\n\r\n")).toBe("bad_content_length");
    expect(parse("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc").body).toBe("abc");
    expect(parseError("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")).toBe("bad_transfer_encoding");
    expect(parseError("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n")).toBe("bad_transfer_encoding");
  });

  test("malformed heads: bare LF, obs-fold, bad names, bad status lines", () => {
    expect(parseError("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n")).toBe("bad_status_line");
    expect(parseError("HTTP/1.1 200 OK\r\nA: b\nC: d\r\n\r\n")).toBe("bad_header");
    expect(parseError("HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n")).toBe("bad_header");
    expect(parseError("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n")).toBe("bad_header");
    expect(parseError("HTTP/1.1 200 OK\r\n: x\r\n\r\n")).toBe("bad_header");
    expect(parseError("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n")).toBe("bad_header");
    expect(parseError("HTTP/1.1 200 OK\r\nA: x\x00y\r\n\r\n")).toBe("bad_header");
    expect(parseError("HTTP/2 200 OK\r\n\r\n")).toBe("bad_status_line");
    expect(parseError("HTTP/1.1 20 OK\r\n\r\n")).toBe("bad_status_line");
    expect(parseError("HTTP/1.1 700 Odd\r\n\r\n")).toBe("bad_status_line");
    expect(parseError("HTTP/1.1 200OK\r\n\r\n")).toBe("bad_status_line");
    // A status line with no reason at all is accepted.
    expect(parse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n").heads[0]!.status).toBe(200);
  });

  test("limits: header bytes (even when it never ends), header count, chunk line, trailers", () => {
    const limits = { ...DEFAULT_LIMITS, maxHeaderBytes: 256, maxHeaderCount: 4, maxChunkLineBytes: 16, maxTrailerBytes: 32 };
    expect(parseError(`HTTP/1.1 200 OK\r\nX: ${"a".repeat(300)}\r\n\r\n`, { limits })).toBe("header_too_large");
    expect(parseError(`HTTP/1.1 200 OK\r\nX: ${"a".repeat(300)}`, { limits, step: 10 })).toBe("header_too_large");
    expect(parseError("HTTP/1.1 200 OK\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n", { limits })).toBe("too_many_headers");
    const te = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    expect(parseError(`${te}5;${"x".repeat(40)}\r\nhello\r\n0\r\n\r\n`, { limits })).toBe("chunk_line_too_long");
    expect(parseError(`${te}${"0".repeat(40)}5\r\nhello\r\n0\r\n\r\n`, { limits })).toBe("chunk_line_too_long");
    expect(parseError(`${te}0\r\nT: ${"x".repeat(64)}\r\n\r\n`, { limits })).toBe("trailer_too_large");
  });

  test("bad chunk framing is refused", () => {
    const te = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    expect(parseError(`${te}g\r\n`)).toBe("bad_chunk");
    expect(parseError(`${te}\r\n`)).toBe("bad_chunk");
    expect(parseError(`${te}5\nhello\r\n`)).toBe("bad_chunk");
    expect(parseError(`${te}5\r\nhello!\r\n`)).toBe("bad_chunk");
    expect(parseError(`${te}5 \r\nhello\r\n`)).toBe("bad_chunk");
    expect(parseError(`${te}-5\r\nhello\r\n`)).toBe("bad_chunk");
    expect(parseError(`${te}fffffffffffffff\r\n`)).toBe("chunk_too_large");
    expect(parseError(`${te}5;a\x01b\r\nhello\r\n`)).toBe("bad_chunk");
    expect(parseError(`${te}0\r\nT: x\n\r\n`)).toBe("bad_trailer");
    // Leading zeros and upper-case hex are fine.
    expect(parse(`${te}000A\r\n0123456789\r\n0\r\n\r\n`).body).toBe("0123456789");
  });
});
