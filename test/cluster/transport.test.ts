import { afterEach, describe, expect, test } from "bun:test";
import { NetTransport } from "../../src/cluster/nettransport.ts";
import { type Endpoint, type Stream, StreamError } from "../../src/cluster/transport.ts";
import { quietLogger } from "./helpers.ts";
import { until as untilHolds } from "../helpers/wait.ts";

const open: NetTransport[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
});

async function transport(onPacket: (b: Uint8Array, f: Endpoint) => void = () => {}, onStream: (c: Stream) => void = () => {}) {
  const t = await NetTransport.bind({ bindAddress: "127.0.0.1", bindPort: 0, logger: quietLogger() });
  t.start({ packet: onPacket, stream: onStream });
  open.push(t);
  return t;
}

const until = (cond: () => boolean, ms = 2000) => untilHolds(cond, ms, 5);

describe("NetTransport", () => {
  test("port 0 binds UDP and TCP on the same free port", async () => {
    const a = await transport();
    expect(a.port).toBeGreaterThan(0);
    // the TCP side answers on that port
    const b = await transport();
    const c = await b.dial({ address: "127.0.0.1", port: a.port }, 1000);
    c.close();
  });

  test("packets arrive with their source address and port", async () => {
    const got: [string, Endpoint][] = [];
    const a = await transport((buf, from) => got.push([new TextDecoder().decode(buf), from]));
    const b = await transport();
    expect(b.sendPacket(new TextEncoder().encode("hello"), { address: "127.0.0.1", port: a.port })).toBe(true);
    await until(() => got.length === 1);
    expect(got[0][0]).toBe("hello");
    expect(got[0][1]).toEqual({ address: "127.0.0.1", port: b.port });
  });

  test("streams carry large payloads both ways and end cleanly", async () => {
    const size = 2_000_000;
    const a = await transport(undefined, async (conn) => {
      let n = 0;
      while (n < size) {
        const chunk = await conn.read();
        if (!chunk) break;
        n += chunk.length;
      }
      conn.write(new Uint8Array(size).fill(1));
      conn.end();
    });
    const b = await transport();
    const c = await b.dial({ address: "127.0.0.1", port: a.port }, 1000);
    c.write(new Uint8Array(size).fill(2));
    let back = 0;
    for (;;) {
      const chunk = await c.read();
      if (!chunk) break;
      back += chunk.length;
    }
    expect(back).toBe(size);
  });

  test("a read past the deadline fails with a timeout", async () => {
    const a = await transport(undefined, () => {
      /* never answers */
    });
    const b = await transport();
    const c = await b.dial({ address: "127.0.0.1", port: a.port }, 1000);
    c.setDeadline(50);
    const err = await c.read().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StreamError);
    expect((err as StreamError).kind).toBe("timeout");
  });

  test("dialing a closed port fails with a connect error", async () => {
    const a = await transport();
    const port = a.port;
    await a.close();
    const b = await transport();
    const err = await b.dial({ address: "127.0.0.1", port: port }, 1000).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StreamError);
  });

  test("sendPacket after close returns false instead of throwing", async () => {
    const a = await transport();
    await a.close();
    expect(a.sendPacket(new Uint8Array([1]), { address: "127.0.0.1", port: 9 })).toBe(false);
  });
});
