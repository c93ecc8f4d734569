// Hostile HTTP/1.1 input against a node running as its own process. The backend is a raw TCP server
// that records the exact bytes it receives (rawbackend.ts), so each test proves what a backend saw:
// every probe gets a clear 4xx (or is neutralised), never reaches a backend ambiguously, never crashes
// the node and never lets the client pick a backend. Tests that guard a bug found here are named
// "regression: <the bug>".
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type NodeProcess, spawnNode, summary } from "./helpers.ts";
import { type RawBackend, type SeenRequest, startRawBackend } from "./rawbackend.ts";

let be: RawBackend;
let node: NodeProcess;
let sent = 0;
let refused = 0;

beforeAll(async () => {
  be = startRawBackend();
  node = await spawnNode({ backends: [`127.0.0.1:${be.port}`], name: "hostile-node" });
});

afterAll(async () => {
  await node?.stop();
  be?.stop();
});

interface Answer {
  /** Status of the first response, or null when the node answered nothing. */
  status: number | null;
  /** Every status line received, in order. */
  statuses: number[];
  text: string;
  closedByNode: boolean;
}

/** Sends raw bytes on a fresh connection; waits for a complete first response or the node closing. */
async function raw(bytes: string, waitMs = 2000): Promise<Answer> {
  sent++;
  let text = "";
  let closedByNode = false;
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port: node.proxyPort,
    socket: {
      data(_s, d) {
        text += Buffer.from(d).toString("latin1");
      },
      close() {
        closedByNode = true;
      },
      error() {},
    },
  });
  sock.write(bytes);
  const complete = () => {
    // Interim 1xx answers (100 Continue) come before the real one.
    const final = text.replace(/^(HTTP\/1\.1 1\d\d [^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+/, "");
    const end = final.indexOf("\r\n\r\n");
    if (end < 0) return false;
    const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(final.slice(0, end))?.[1] ?? 0);
    return final.length >= end + 4 + len;
  };
  const deadline = performance.now() + waitMs;
  while (!closedByNode && !complete() && performance.now() < deadline) await Bun.sleep(5);
  await Bun.sleep(20);
  const wasClosed = closedByNode;
  sock.end();
  const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  const first = statuses.find((s) => s >= 200) ?? null;
  if (first !== null && ((first >= 400 && first < 500) || first === 505)) refused++;
  return { status: first, statuses, text, closedByNode: wasClosed };
}

const H = "Host: app.example\r\n";

/** The backend saw nothing at all for `marker`, and nothing it could not frame. */
function backendSawNothing(marker: string): void {
  expect(be.find(marker)).toEqual([]);
  expect(be.find("smuggled")).toEqual([]);
  expect(be.ambiguous).toEqual([]);
}

/** The one request the backend saw for `marker`; nothing ambiguous anywhere. */
function onlyRequest(marker: string): SeenRequest {
  const seen = be.find(marker);
  expect(seen.length).toBe(1);
  expect(be.ambiguous).toEqual([]);
  return seen[0]!;
}

const header = (r: SeenRequest, name: string) => r.headers.filter(([n]) => n === name).map(([, v]) => v);

// Each probe must be refused with a 4xx (or, where Bun reads the head as another HTTP version, 505);
// nothing of it may reach the backend.
const REFUSED: [name: string, marker: string, bytes: string, versionRefusal?: "505 ok"][] = [
  ["CL.TE: Content-Length and Transfer-Encoding together", "/p-clte", `POST /p-clte HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`],
  ["TE.CL: Transfer-Encoding then Content-Length", "/p-tecl", `POST /p-tecl HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGET /smuggled HTTP/1.1\r\n${H}Content-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n`],
  ["two different Content-Lengths", "/p-dupcl", `POST /p-dupcl HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 40\r\n\r\nabcGET /smuggled HTTP/1.1\r\n${H}\r\n`],
  ["a Content-Length list", "/p-cllist", `POST /p-cllist HTTP/1.1\r\n${H}Content-Length: 3, 40\r\n\r\nabc`],
  ["a signed Content-Length", "/p-clplus", `POST /p-clplus HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc`],
  ["a Content-Length beyond 2^64", "/p-clhuge", `POST /p-clhuge HTTP/1.1\r\n${H}Content-Length: 99999999999999999999999\r\n\r\nabc`],
  ["obs-fold (a header line continued on the next)", "/p-obsfold", `GET /p-obsfold HTTP/1.1\r\n${H}X-A: one\r\n two\r\n\r\n`],
  ["obs-fold hiding Transfer-Encoding", "/p-obsfoldte", `POST /p-obsfoldte HTTP/1.1\r\n${H}X-A: one\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\nabc`],
  ["a bare LF inside the head", "/p-barelf", `GET /p-barelf HTTP/1.1\r\nX-A: b\nTransfer-Encoding: chunked\r\n${H}\r\n`],
  ["a bare CR inside the head", "/p-barecr", `GET /p-barecr HTTP/1.1\r\nX-A: b\rTransfer-Encoding: chunked\r\n${H}\r\n`],
  ["a head with bare LF line endings", "/p-alllf", `GET /p-alllf HTTP/1.1\nHost: app.example\n\n`, "505 ok"],
  ["a chunk size that is not hex", "/p-chunkzz", `POST /p-chunkzz HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`],
  ["a negative chunk size", "/p-chunkneg", `POST /p-chunkneg HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n`],
  ["a 0x-prefixed chunk size", "/p-chunk0x", `POST /p-chunk0x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n`],
  ["a chunk size overflowing 64 bits to a small number", "/p-chunkovf", `POST /p-chunkovf HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n10000000000000003\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`],
  ["a chunk size of 18 hex digits", "/p-chunkovf2", `POST /p-chunkovf2 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF3\r\nabc\r\n0\r\n\r\n`],
  ["a NUL in a chunk extension", "/p-chunknul", `POST /p-chunknul HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;\x00x\r\nabc\r\n0\r\n\r\n`],
  ["chunk lines ending in bare LF", "/p-chunklf", `POST /p-chunklf HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n`],
  ["Transfer-Encoding: identity", "/p-teid", `POST /p-teid HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc`],
  ["Transfer-Encoding: gzip, chunked", "/p-tegz", `POST /p-tegz HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`],
  ["Transfer-Encoding: chunked, gzip (chunked not last)", "/p-techgz", `POST /p-techgz HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n`],
  ["Transfer-Encoding twice", "/p-tetwice", `POST /p-tetwice HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`],
  ["whitespace before the colon", "/p-tespace", `POST /p-tespace HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\nabc`],
  ["Transfer-Encoding on HTTP/1.0", "/p-http10te", `POST /p-http10te HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`],
  ["a NUL in a header value", "/p-nul", `GET /p-nul HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`],
  ["a control character in Host", "/p-hostctl", `GET /p-hostctl HTTP/1.1\r\nHost: a\x01b\r\n\r\n`],
  ["a space inside a header name", "/p-spacename", `GET /p-spacename HTTP/1.1\r\n${H}X A: b\r\n\r\n`],
  ["no Host", "/p-nohost", `GET /p-nohost HTTP/1.1\r\n\r\n`],
  ["an unknown HTTP version", "/p-ver", `GET /p-ver HTTP/1.7\r\n${H}\r\n`, "505 ok"],
  ["HTTP/0.9", "/p-http09", `GET /p-http09\r\n\r\n`, "505 ok"],
  ["a request target without a leading slash", "p-noslash", `GET p-noslash HTTP/1.1\r\n${H}\r\n`],
  ["a request line of 100 KB", "/p-longline", `GET /p-longline?${"a".repeat(100_000)} HTTP/1.1\r\n${H}\r\n`],
  ["one header of 100 KB", "/p-bighdr", `GET /p-bighdr HTTP/1.1\r\n${H}X-Big: ${"b".repeat(100_000)}\r\n\r\n`],
  ["1 MB of headers", "/p-mbhdrs", `GET /p-mbhdrs HTTP/1.1\r\n${H}${Array.from({ length: 1000 }, (_, i) => `X-H${i}: ${"c".repeat(1000)}\r\n`).join("")}\r\n`],
  ["10,000 header fields", "/p-manyhdrs", `GET /p-manyhdrs HTTP/1.1\r\n${H}${Array.from({ length: 10_000 }, (_, i) => `X-${i}: v\r\n`).join("")}\r\n`],
  // Found here (see the regression tests below for what each used to do).
  ["regression: two identical Content-Lengths answered 502 and counted as a backend failure", "/p-dupclsame", `POST /p-dupclsame HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc`],
  ["regression: two Host fields were forwarded merged as `Host: a, b`", "/p-twohosts", `GET /p-twohosts HTTP/1.1\r\n${H}Host: other.example\r\n\r\n`],
  ["regression: a Host with a path in it was forwarded", "/p-hostpath", `GET /p-hostpath HTTP/1.1\r\nHost: app.example/admin?\r\n\r\n`],
  ["regression: a Host with whitespace was forwarded", "/p-hostspace", `GET /p-hostspace HTTP/1.1\r\nHost: app.example evil.example\r\n\r\n`],
  ["regression: a Host with userinfo was forwarded", "/p-hostat", `GET /p-hostat HTTP/1.1\r\nHost: user@evil.example\r\n\r\n`],
  ["regression: CONNECT was forwarded to a backend as `CONNECT /`", "CONNECT", `CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n`],
];

/** Probes run and probes whose test failed: the summary line reports these, not a literal. */
let probesRun = 0;
let probesFailed = 0;
let probesDeclared = 0;
function probe(name: string, fn: () => Promise<void>): void {
  probesDeclared++;
  test(name, async () => {
    probesRun++;
    try {
      await fn();
    } catch (err) {
      probesFailed++;
      throw err;
    }
  });
}

describe("refused with a 4xx, nothing reaches a backend", () => {
  for (const [name, marker, bytes, versionRefusal] of REFUSED) {
    probe(name, async () => {
      const a = await raw(bytes);
      expect(a.status).toBeGreaterThanOrEqual(400);
      expect(a.status).toBeLessThan(versionRefusal ? 506 : 500);
      if (a.status! >= 500) expect(a.status).toBe(505);
      backendSawNothing(marker);
    });
  }
});

describe("an HTTP/2 preface", () => {
  // h2c is on by default (proxy.http2): the preface opens an HTTP/2 connection instead of being refused.
  // What hostile HTTP/2 can do is test/proxy/h2-hostile.test.ts.
  probe("an HTTP/2 preface opens HTTP/2 (the node's SETTINGS come back) and nothing reaches a backend", async () => {
    const a = await raw(`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, 300);
    expect(a.status).toBeNull();
    expect(a.text.charCodeAt(3)).toBe(4); // the first frame is SETTINGS
    backendSawNothing("PRI");
  });
});

describe("neutralised: forwarded as one unambiguous request", () => {
  probe("a request hidden in a Content-Length body stays body", async () => {
    const inner = `GET /smuggled HTTP/1.1\r\n${H}\r\n`;
    const a = await raw(`POST /p-inbody HTTP/1.1\r\n${H}Content-Length: ${inner.length}\r\n\r\n${inner}`);
    expect(a.statuses).toEqual([200]);
    const r = onlyRequest("/p-inbody");
    expect(Buffer.from(r.body).toString("latin1")).toBe(inner);
    expect(be.find("smuggled")).toEqual([]);
  });

  probe("a chunked body is forwarded with exactly one framing", async () => {
    const a = await raw(`POST /p-chunked HTTP/1.1\r\n${H}Transfer-Encoding: CHUNKED\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n`);
    expect(a.statuses).toEqual([200]);
    const r = onlyRequest("/p-chunked");
    expect(Buffer.from(r.body).toString()).toBe("abcde");
    expect(header(r, "content-length").length + header(r, "transfer-encoding").length).toBe(1);
  });

  probe("Expect: 100-continue gets one 100 and one answer; the body arrives once", async () => {
    const a = await raw(`POST /p-expect HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc`);
    expect(a.statuses.filter((s) => s >= 200)).toEqual([200]);
    expect(Buffer.from(onlyRequest("/p-expect").body).toString()).toBe("abc");
  });

  probe("an absolute-form target naming another host still goes to our backend, as origin-form", async () => {
    const a = await raw(`GET http://127.0.0.1:1/p-absolute?x=1 HTTP/1.1\r\n${H}\r\n`);
    expect(a.statuses).toEqual([200]);
    expect(onlyRequest("/p-absolute").line).toBe("GET /p-absolute?x=1 HTTP/1.1");
  });

  probe("pipelined requests: Bun closes the connection (a known Bun limitation); nothing ambiguous, the node stays up", async () => {
    const a = await raw(`GET /p-pipe1 HTTP/1.1\r\n${H}\r\nGET /p-pipe2 HTTP/1.1\r\n${H}\r\n`);
    // Either both answered in order (a Bun that supports pipelining) or the connection closed.
    if (a.statuses.length > 0) expect(a.statuses).toEqual([200, 200]);
    else expect(a.closedByNode).toBe(true);
    expect(be.find("/p-pipe2").length).toBeLessThanOrEqual(1);
    expect(be.ambiguous).toEqual([]);
  });
});

describe("forwarding headers cannot be forged or deleted", () => {
  probe("regression: `Connection: host` deleted the Host header before forwarding", async () => {
    const a = await raw(`GET /p-connhost HTTP/1.1\r\n${H}Connection: Host, X-Forwarded-For, Via, X-Forwarded-Host\r\nX-Forwarded-For: 203.0.113.9\r\nX-Hop: 1\r\n\r\n`);
    expect(a.statuses).toEqual([200]);
    const r = onlyRequest("/p-connhost");
    expect(header(r, "host")).toEqual(["app.example"]);
    // Our forwarding headers are ours whatever Connection names; XFF ends with the real client.
    expect(header(r, "x-forwarded-for").join(",").split(",").at(-1)!.trim()).toBe("127.0.0.1");
    expect(header(r, "x-forwarded-host")).toEqual(["app.example"]);
    expect(header(r, "via").join(",")).toContain("1.1 hostile-node");
    expect(header(r, "connection").join(",").toLowerCase()).not.toContain("host");
  });

  probe("a field named in Connection is still removed (hop-by-hop)", async () => {
    const a = await raw(`GET /p-connhop HTTP/1.1\r\n${H}Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n\r\n`);
    expect(a.statuses).toEqual([200]);
    const r = onlyRequest("/p-connhop");
    expect(header(r, "x-hop")).toEqual([]);
    expect(header(r, "keep-alive")).toEqual([]);
  });

  probe("a forged X-Forwarded-For is appended to, never trusted: the real client address comes last", async () => {
    const a = await raw(`GET /p-xff HTTP/1.1\r\n${H}X-Forwarded-For: 10.9.9.9, 198.18.0.11\r\n\r\n`);
    expect(a.statuses).toEqual([200]);
    expect(header(onlyRequest("/p-xff"), "x-forwarded-for")).toEqual(["10.9.9.9, 198.18.0.11, 127.0.0.1"]);
  });

  probe("forged X-Forwarded-Proto / X-Forwarded-Host are replaced by what the node saw", async () => {
    const a = await raw(`GET /p-xfp HTTP/1.1\r\n${H}X-Forwarded-Proto: https\r\nX-Forwarded-Host: bank.example\r\n\r\n`);
    expect(a.statuses).toEqual([200]);
    const r = onlyRequest("/p-xfp");
    expect(header(r, "x-forwarded-proto")).toEqual(["http"]);
    expect(header(r, "x-forwarded-host")).toEqual(["app.example"]);
  });

  probe("a forged x-clusterclub-no-backend never reaches a backend", async () => {
    const a = await raw(`GET /p-internal HTTP/1.1\r\n${H}X-ClusterClub-No-Backend: 1\r\n\r\n`);
    expect(a.statuses).toEqual([200]);
    expect(header(onlyRequest("/p-internal"), "x-clusterclub-no-backend")).toEqual([]);
  });
});

test("after every probe the node is still up, no worker restarted, and normal requests are served", async () => {
  const r = await fetch(`${node.url}/p-after`);
  expect(r.status).toBe(200);
  expect(await r.text()).toBe("ok\n");
  expect(node.proc.exitCode).toBeNull();
  expect(await node.workerRestarts()).toBe(0);
  expect(be.ambiguous).toEqual([]);
  expect(node.log()).not.toMatch(/"level":"error"/);
  summary({
    scenario: "hostile HTTP input",
    load: `${sent} raw probe connections (smuggling, oversize, header forgery)`,
    faults: `${REFUSED.length} malformed/ambiguous requests, 5 header forgeries`,
    sent,
    failed: probesFailed,
    refused: refused,
    backend_requests: be.requests.length,
    backend_ambiguous: be.ambiguous.length,
    node_alive: node.proc.exitCode === null ? "yes" : "no",
  });
  expect(probesRun).toBe(probesDeclared); // every probe ran (none skipped)
  expect(probesFailed).toBe(0);
});
