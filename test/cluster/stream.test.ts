import { describe, expect, test } from "bun:test";
import {
  MAX_STREAM_BYTES,
  StreamDecoder,
  decodeStreamPayload,
  encodeStreamMessage,
  encodeStreamPayload,
  encryptStream,
} from "../../src/cluster/stream.ts";
import { encodeCompress } from "../../src/cluster/codec.ts";
import { Keyring } from "../../src/cluster/security.ts";
import { OUR_VSN, WireError, type Message, type PushNodeState } from "../../src/cluster/messages.ts";
import { reasonOf } from "./helpers.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function state(i: number, s = 0): PushNodeState {
  return {
    name: `node-${i}`,
    addr: new Uint8Array([10, 0, (i >> 8) & 0xff, i & 0xff]),
    port: 7946,
    meta: new TextEncoder().encode(`{"healthy":${i % 5},"port":8080}`),
    incarnation: i * 3,
    state: s,
    vsn: [...OUR_VSN],
  };
}

const pushPull: Message = {
  type: "pushPull",
  body: { join: true, states: [state(1), state(2, 1), state(3, 2), state(4, 3)], userState: new Uint8Array([1, 2, 3]) },
};
const streamSamples: Message[] = [
  pushPull,
  { type: "pushPull", body: { join: false, states: [], userState: new Uint8Array(0) } },
  { type: "ping", body: { seqNo: 42, node: "b" } },
  { type: "ackResp", body: { seqNo: 42, payload: null } },
  { type: "err", body: { error: "Encryption is configured but remote state is not encrypted" } },
  { type: "user", body: new TextEncoder().encode("hello") },
];

/** Feeds `bytes` to a fresh decoder in chunks of `size`; the message must appear exactly at the last chunk. */
function feed(bytes: Uint8Array, size: number, opts?: ConstructorParameters<typeof StreamDecoder>[0]): Message {
  const d = new StreamDecoder(opts);
  let out: Message | null = null;
  for (let i = 0; i < bytes.length; i += size) {
    const m = d.push(bytes.subarray(i, i + size));
    if (m) {
      expect(i + size).toBeGreaterThanOrEqual(bytes.length);
      out = m;
    }
  }
  if (!out) throw new Error("no message decoded");
  expect(d.done).toBe(true);
  return out;
}

describe("stream payloads", () => {
  test("pushPull layout: 06 | header | states | user state", () => {
    const p = encodeStreamPayload(pushPull);
    expect(p[0]).toBe(6);
    // header map: Join, Nodes, UserStateLen (sorted)
    expect(hex(p.subarray(1, 8))).toBe("83a44a6f696ec3");
    expect(hex(p.subarray(p.length - 3))).toBe("010203");
  });

  test("user over TCP carries a userMsgHeader", () => {
    const p = encodeStreamPayload({ type: "user", body: new Uint8Array([9, 9]) });
    expect(hex(p)).toBe("0881aa557365724d73674c656e020909");
  });

  test("non-stream messages are refused", () => {
    expect(reasonOf(() => encodeStreamPayload({ type: "suspect", body: { incarnation: 1, node: "a", from: "b" } }))).toBe("invalid");
  });

  test("round-trip plain, compressed, encrypted; whole and byte-by-byte", () => {
    const ring = Keyring.fromSecrets("stream test");
    for (const m of streamSamples) {
      for (const compress of [false, true]) {
        const plain = encodeStreamMessage(m, { compress });
        expect(plain[0]).toBe(compress ? 9 : encodeStreamPayload(m)[0]);
        expect(decodeStreamPayload(plain)).toEqual(m);
        expect(feed(plain, plain.length)).toEqual(m);
        expect(feed(plain, 1)).toEqual(m);
        expect(feed(plain, 7)).toEqual(m);

        const sealed = encodeStreamMessage(m, { compress, keyring: ring });
        expect(sealed[0]).toBe(10);
        expect(new DataView(sealed.buffer).getUint32(1)).toBe(sealed.length - 5);
        expect(feed(sealed, 1, { keyring: ring })).toEqual(m);
        expect(feed(sealed, 5, { keyring: ring })).toEqual(m);
      }
    }
  });

  test("a large push/pull arriving in small chunks", () => {
    const big: Message = {
      type: "pushPull",
      body: { join: false, states: Array.from({ length: 2000 }, (_, i) => state(i, i % 4)), userState: new Uint8Array(5000).fill(3) },
    };
    for (const compress of [false, true]) {
      const bytes = encodeStreamMessage(big, { compress });
      expect(feed(bytes, 1000)).toEqual(big);
    }
  });

  test("the message is yielded before EOF and trailing bytes are ignored", () => {
    const bytes = encodeStreamMessage(streamSamples[2]);
    const d = new StreamDecoder();
    expect(d.push(bytes)).toEqual(streamSamples[2]);
    expect(d.push(new Uint8Array([1, 2, 3]))).toBeNull();
    d.end();
  });

  test("a label header at the start is stripped", () => {
    const bytes = encodeStreamMessage(streamSamples[2]);
    expect(feed(new Uint8Array([0xf4, 2, 0x61, 0x62, ...bytes]), 1)).toEqual(streamSamples[2]);
  });

  test("encryption policy", () => {
    const ring = Keyring.fromSecrets("a");
    const plain = encodeStreamMessage(streamSamples[2]);
    const sealed = encodeStreamMessage(streamSamples[2], { keyring: ring });
    expect(reasonOf(() => new StreamDecoder({ keyring: ring }).push(plain))).toBe("plaintext");
    expect(new StreamDecoder({ keyring: ring, verifyIncoming: false }).push(plain)).toEqual(streamSamples[2]);
    expect(reasonOf(() => new StreamDecoder().push(sealed))).toBe("decrypt");
    expect(reasonOf(() => new StreamDecoder({ keyring: Keyring.fromSecrets("b") }).push(sealed))).toBe("decrypt");
    // The 5 header bytes are associated data: a blob sealed without them does not open.
    const payload = encodeCompress(encodeStreamPayload(streamSamples[2]));
    const blob = ring.encrypt(payload);
    const noAd = new Uint8Array([10, 0, 0, 0, 0, ...blob]);
    new DataView(noAd.buffer).setUint32(1, blob.length);
    expect(reasonOf(() => new StreamDecoder({ keyring: ring }).push(noAd))).toBe("decrypt");
    expect(encryptStream(payload, ring).length).toBe(noAd.length);
  });

  test("oversized and malformed streams", () => {
    const ring = Keyring.fromSecrets("a");
    const huge = new Uint8Array([10, 0x01, 0x40, 0x00, 0x01]); // 20 MiB + 1
    expect(MAX_STREAM_BYTES).toBe(20 * 1024 * 1024);
    expect(reasonOf(() => new StreamDecoder({ keyring: ring }).push(huge))).toBe("too_large");
    expect(reasonOf(() => new StreamDecoder().push(new Uint8Array([4, 0x80])))).toBe("unknown_type");
    expect(reasonOf(() => new StreamDecoder().push(new Uint8Array([0xc1])))).toBe("unknown_type");
    // pushPull announcing more user state than the cap
    const pp = new Uint8Array([6, 0x83, 0xa4, ...new TextEncoder().encode("Join"), 0xc2, 0xa5, ...new TextEncoder().encode("Nodes"), 0,
      0xac, ...new TextEncoder().encode("UserStateLen"), 0xce, 0x7f, 0xff, 0xff, 0xff]);
    expect(reasonOf(() => new StreamDecoder().push(pp))).toBe("too_large");
    // a plaintext stream growing past the cap without completing
    const d = new StreamDecoder({ maxBytes: 1000 });
    d.push(new Uint8Array([0, 0xdb, 0x00, 0x10, 0x00, 0x00]));
    expect(reasonOf(() => d.push(new Uint8Array(2000)))).toBe("too_large");
    // closed half-way
    const half = new StreamDecoder();
    half.push(encodeStreamMessage(pushPull).subarray(0, 20));
    expect(reasonOf(() => half.end())).toBe("truncated");
    new StreamDecoder().end(); // nothing received: quiet
    // nested compress is not something Go produces or accepts
    expect(reasonOf(() => decodeStreamPayload(encodeCompress(encodeCompress(encodeStreamPayload(pushPull)))))).toBe("unknown_type");
    // encrypted stream wrapping nothing
    expect(reasonOf(() => new StreamDecoder({ keyring: ring }).push(encryptStream(new Uint8Array(0), ring)))).toBe("empty");
  });

  test("fuzz-ish: mutated streams only throw WireError", () => {
    let s = 99;
    const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
    const seeds = streamSamples.flatMap((m) => [encodeStreamMessage(m), encodeStreamMessage(m, { compress: false })]);
    for (let i = 0; i < 3000; i++) {
      const buf = seeds[i % seeds.length].slice();
      for (let f = 0; f < 1 + (rnd() % 3); f++) buf[rnd() % buf.length] = rnd() & 0xff;
      const d = new StreamDecoder({ maxBytes: 1 << 16, maxDecompressedBytes: 1 << 16 });
      try {
        for (let o = 0; o < buf.length; o += 13) d.push(buf.subarray(o, o + 13));
        d.end();
      } catch (err) {
        if (!(err instanceof WireError)) throw err;
      }
    }
  });
});

describe("StreamDecoder over a real TCP socket", () => {
  test("server answers a push/pull as soon as it is complete (no EOF from the client)", async () => {
    const ring = Keyring.fromSecrets("socket test");
    const reply: Message = { type: "pushPull", body: { join: false, states: [state(9)], userState: new Uint8Array(0) } };
    const server = Bun.listen<{ dec: StreamDecoder }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(sock) {
          sock.data = { dec: new StreamDecoder({ keyring: ring }) };
        },
        data(sock, chunk) {
          const m = sock.data.dec.push(chunk);
          if (m?.type === "pushPull") sock.end(encodeStreamMessage(reply, { keyring: ring }));
        },
      },
    });
    try {
      const got = await new Promise<Message>((resolve, reject) => {
        const dec = new StreamDecoder({ keyring: ring });
        const request = encodeStreamMessage(pushPull, { keyring: ring });
        Bun.connect({
          hostname: "127.0.0.1",
          port: server.port,
          socket: {
            async open(sock) {
              // dribble the request in three writes and never half-close
              const third = Math.ceil(request.length / 3);
              for (let i = 0; i < request.length; i += third) {
                sock.write(request.subarray(i, i + third));
                await Bun.sleep(5);
              }
            },
            data(_sock, chunk) {
              try {
                const m = dec.push(chunk);
                if (m) resolve(m);
              } catch (err) {
                reject(err);
              }
            },
            close() {
              reject(new Error("closed before a reply"));
            },
            error(_s, err) {
              reject(err);
            },
          },
        }).catch(reject);
      });
      expect(got).toEqual(reply);
    } finally {
      server.stop(true);
    }
  });
});
