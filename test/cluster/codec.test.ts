import { describe, expect, test } from "bun:test";
import {
  MAX_COMPOUND_PARTS,
  UDP_PACKET_SIZE,
  decodeMessage,
  decodePacket,
  encodeCompound,
  encodeCompress,
  encodeMessage,
  encodePacket,
  makeCompoundPackets,
  splitCompound,
} from "../../src/cluster/codec.ts";
import { ENCRYPT_OVERHEAD, Keyring } from "../../src/cluster/security.ts";
import { OUR_VSN, WireError, type Message } from "../../src/cluster/messages.ts";
import { reasonOf } from "./helpers.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const ip = (...b: number[]) => new Uint8Array(b);

const samples: Message[] = [
  { type: "ping", body: { seqNo: 300, node: "b" } },
  {
    type: "ping",
    body: { seqNo: 0xffffffff, node: "node-β", sourceAddr: ip(127, 0, 0, 1), sourcePort: 7946, sourceNode: "a" },
  },
  {
    type: "indirectPing",
    body: { seqNo: 1, target: ip(10, 0, 0, 2), port: 7946, node: "c", nack: true, sourceAddr: ip(10, 0, 0, 1), sourcePort: 1, sourceNode: "a" },
  },
  { type: "indirectPing", body: { seqNo: 2, target: new Uint8Array(16), port: 0, node: "", nack: false } },
  { type: "ackResp", body: { seqNo: 7, payload: null } },
  { type: "ackResp", body: { seqNo: 8, payload: new Uint8Array([1, 2, 3]) } },
  { type: "nackResp", body: { seqNo: 9 } },
  { type: "suspect", body: { incarnation: 3, node: "b", from: "a" } },
  { type: "dead", body: { incarnation: 4, node: "b", from: "b" } },
  {
    type: "alive",
    body: { incarnation: 1, node: "a", addr: ip(127, 0, 0, 1), port: 7946, meta: new TextEncoder().encode("x".repeat(512)), vsn: [...OUR_VSN] },
  },
  { type: "user", body: new Uint8Array([0xde, 0xad]) },
];

describe("messages", () => {
  test("golden bytes from the brief (Go 0.2.2 output)", () => {
    expect(hex(encodeMessage({ type: "ping", body: { seqNo: 300, node: "b" } }))).toBe(
      hex(unhex("00 82 a4 4e6f6465 a1 62 a5 5365714e6f cd 012c")),
    );
    expect(hex(encodeMessage({ type: "ackResp", body: { seqNo: 7, payload: null } }))).toBe(
      hex(unhex("02 82 a7 5061796c6f6164 c0 a5 5365714e6f 07")),
    );
    const alive = encodeMessage(samples[9]);
    expect(hex(alive).endsWith("a356736ea6010502000000")).toBe(true);
  });

  test("round-trip every packet message type", () => {
    for (const m of samples) {
      expect(decodeMessage(encodeMessage(m))).toEqual(m);
      expect(decodePacket(encodeMessage(m))).toEqual([m]);
    }
  });

  test("omitempty fields are absent on the wire", () => {
    const bytes = encodeMessage({ type: "ping", body: { seqNo: 1, node: "b", sourceAddr: new Uint8Array(0), sourcePort: 0, sourceNode: "" } });
    expect(bytes[1]).toBe(0x82); // only Node and SeqNo
    expect(Buffer.from(bytes).includes(Buffer.from("Source"))).toBe(false);
  });

  test("refuses to encode what would crash or confuse Go", () => {
    const bad = { ...(samples[9] as Extract<Message, { type: "alive" }>).body, vsn: [1, 5, 2] as unknown as typeof OUR_VSN };
    expect(reasonOf(() => encodeMessage({ type: "alive", body: bad }))).toBe("invalid");
    expect(reasonOf(() => encodeMessage({ type: "ping", body: { seqNo: 2 ** 32, node: "" } }))).toBe("invalid");
    expect(reasonOf(() => encodeMessage({ type: "alive", body: { ...bad, vsn: [...OUR_VSN], port: 70000 } }))).toBe("invalid");
  });

  test("decodes Go's signed ints, str8/bin bytes, nil meta, short Vsn", () => {
    // alive with Incarnation as int32 (d2), Meta nil, Addr as bin8, Vsn 3 bytes, an unknown key
    const buf = unhex(
      "04 87" +
        "a4 41646472 c4 04 7f000001" +
        "ab 496e6361726e6174696f6e d2 00000005" +
        "a4 4d657461 c0" +
        "a4 4e6f6465 d9 01 61" +
        "a4 506f7274 cd 1f0a" +
        "a3 56736e a3 010502" +
        "a5 4578747261 92 01 02",
    );
    expect(decodeMessage(buf)).toEqual({
      type: "alive",
      body: { addr: ip(127, 0, 0, 1), incarnation: 5, meta: new Uint8Array(0), node: "a", port: 7946, vsn: [1, 5, 2, 0, 0, 0] },
    });
  });

  test("bad bodies are WireErrors with a reason", () => {
    expect(reasonOf(() => decodeMessage(new Uint8Array(0)))).toBe("empty");
    expect(reasonOf(() => decodeMessage(unhex("00")))).toBe("truncated");
    expect(reasonOf(() => decodeMessage(unhex("00 81 a5 5365714e6f ff")))).toBe("msgpack"); // negative SeqNo
    expect(reasonOf(() => decodeMessage(unhex("00 81 a5 5365714e6f cf 0000000100000000")))).toBe("msgpack"); // > u32
    expect(reasonOf(() => decodeMessage(unhex("06 80")))).toBe("unknown_type");
    expect(reasonOf(() => decodeMessage(unhex("63")))).toBe("unknown_type");
  });
});

describe("compound", () => {
  test("encode/split layout", () => {
    const c = encodeCompound([unhex("0b01"), unhex("0b8100")]);
    expect(hex(c)).toBe("0702000200030b010b8100");
    const { parts, truncated } = splitCompound(c);
    expect(parts.map(hex)).toEqual(["0b01", "0b8100"]);
    expect(truncated).toBe(0);
  });

  test("limits: 1..127 non-empty parts", () => {
    const part = encodeMessage({ type: "nackResp", body: { seqNo: 1 } });
    expect(splitCompound(encodeCompound(Array(MAX_COMPOUND_PARTS).fill(part))).parts.length).toBe(127);
    expect(reasonOf(() => encodeCompound(Array(128).fill(part)))).toBe("invalid");
    expect(reasonOf(() => encodeCompound([]))).toBe("invalid");
    expect(reasonOf(() => encodeCompound([part, new Uint8Array(0)]))).toBe("empty");
  });

  test("decodePacket unwraps compound, compress, CRC and label", () => {
    const msgs = samples.slice(0, 8);
    const compound = encodeCompound(msgs.map(encodeMessage));
    expect(decodePacket(compound)).toEqual(msgs);
    expect(decodePacket(encodePacket(compound, { compress: true, crc: true }))).toEqual(msgs);
    const labelled = new Uint8Array([0xf4, 3, 0x61, 0x62, 0x63, ...encodePacket(compound, { crc: true })]);
    expect(decodePacket(labelled)).toEqual(msgs);
    // compress inside compound inside compress
    const nested = encodeCompress(encodeCompound([encodeCompress(encodeMessage(samples[0])), encodeMessage(samples[4])]));
    expect(decodePacket(nested)).toEqual([samples[0], samples[4]]);
  });

  test("truncated and bad parts: dropped one by one with onPartError, thrown without", () => {
    const good = encodeMessage(samples[0]);
    const c = encodeCompound([good, unhex("63"), good]);
    const errors: string[] = [];
    expect(decodePacket(c, { onPartError: (e) => errors.push(e.reason) })).toEqual([samples[0], samples[0]]);
    expect(errors).toEqual(["unknown_type"]);
    expect(reasonOf(() => decodePacket(c))).toBe("unknown_type");

    const cut = encodeCompound([good, good]).subarray(0, 4 + good.length + 3);
    errors.length = 0;
    expect(decodePacket(cut, { onPartError: (e) => errors.push(e.reason) })).toEqual([samples[0]]);
    expect(errors).toEqual(["truncated"]);
    // empty part (crashes Go 0.2.2): 07 02 0000 0001 0b
    expect(reasonOf(() => decodePacket(unhex("07020000000b")))).toBe("empty");
    expect(reasonOf(() => decodePacket(unhex("0702")))).toBe("truncated");
  });

  test("nesting is depth-limited", () => {
    let p = encodeMessage(samples[0]);
    for (let i = 0; i < 10; i++) p = encodeCompound([p]);
    expect(reasonOf(() => decodePacket(p))).toBe("invalid");
  });

  test("makeCompoundPackets packs into as few packets as fit the budget", () => {
    const parts = Array.from({ length: 40 }, (_, i) =>
      encodeMessage({ type: "alive", body: { incarnation: i, node: `node-${i}`, addr: ip(10, 0, 0, i), port: 7946, meta: new Uint8Array(i * 3), vsn: [...OUR_VSN] } }),
    );
    const budget = UDP_PACKET_SIZE - ENCRYPT_OVERHEAD - 5;
    const packets = makeCompoundPackets(parts, budget);
    const total = parts.reduce((s, p) => s + p.length + 2, 0);
    expect(packets.length).toBeGreaterThanOrEqual(Math.ceil(total / (budget - 2)));
    expect(packets.length).toBeLessThanOrEqual(Math.ceil(total / (budget - 2)) + 1);
    const seen: Message[] = [];
    for (const p of packets) {
      expect(p.length).toBeLessThanOrEqual(budget);
      seen.push(...decodePacket(p));
    }
    expect(seen.length).toBe(40);
    expect(new Set(seen.map((m) => (m.type === "alive" ? m.body.node : "")))).toEqual(new Set(parts.map((_, i) => `node-${i}`)));

    // one message → sent as-is, no compound wrapper
    expect(makeCompoundPackets([parts[0]], budget)).toEqual([parts[0]]);
    // an oversized message still goes out, alone
    const big = encodeMessage({ type: "user", body: new Uint8Array(2000) });
    const withBig = makeCompoundPackets([parts[0], big, parts[1]], budget);
    expect(withBig.length).toBe(2);
    expect(withBig.some((p) => p === big)).toBe(true);
    // never more than 127 parts
    const tiny = Array(300).fill(encodeMessage({ type: "nackResp", body: { seqNo: 1 } }));
    for (const p of makeCompoundPackets(tiny, 60000)) expect(splitCompound(p).parts.length).toBeLessThanOrEqual(127);
  });
});

describe("packet pipeline", () => {
  const ring = Keyring.fromSecrets("test passphrase");

  test("compress only when smaller", () => {
    const small = encodeMessage(samples[0]);
    expect(encodePacket(small, { compress: true })).toEqual(small);
    const big = encodeCompound(Array(20).fill(encodeMessage(samples[7])));
    const packed = encodePacket(big, { compress: true });
    expect(packed[0]).toBe(9);
    expect(packed.length).toBeLessThan(big.length);
  });

  test("encrypted round trip; wrong key and plaintext are dropped unless verifyIncoming is off", () => {
    const payload = encodeMessage(samples[0]);
    const sealed = encodePacket(payload, { keyring: ring, crc: true, compress: true });
    expect(decodePacket(sealed, { keyring: ring })).toEqual([samples[0]]);
    expect(reasonOf(() => decodePacket(sealed, { keyring: Keyring.fromSecrets("other") }))).toBe("decrypt");
    expect(reasonOf(() => decodePacket(payload, { keyring: ring }))).toBe("decrypt");
    expect(decodePacket(payload, { keyring: ring, verifyIncoming: false })).toEqual([samples[0]]);
    // label + encryption: [new] uses the label as associated data
    const labelled = new Uint8Array([0xf4, 1, 0x78, ...ring.encrypt(payload, new Uint8Array([0x78]))]);
    expect(decodePacket(labelled, { keyring: ring })).toEqual([samples[0]]);
  });

  test("CRC mismatch, empty inner, empty label", () => {
    const p = encodePacket(encodeMessage(samples[0]), { crc: true });
    const t = p.slice();
    t[t.length - 1] ^= 0xff;
    expect(reasonOf(() => decodePacket(t))).toBe("crc");
    expect(reasonOf(() => decodePacket(unhex("0c00000000")))).toBe("empty");
    expect(reasonOf(() => decodePacket(unhex("0c0000")))).toBe("truncated");
    expect(reasonOf(() => decodePacket(unhex("f400")))).toBe("label");
    expect(reasonOf(() => decodePacket(unhex("f40561")))).toBe("truncated");
    expect(reasonOf(() => decodePacket(new Uint8Array(0)))).toBe("empty");
    expect(reasonOf(() => encodePacket(new Uint8Array(0)))).toBe("empty");
  });

  test("decompression bomb in a packet is capped", () => {
    const bomb = encodeCompress(new Uint8Array(2_000_000).fill(0x0b));
    expect(bomb.length).toBeLessThan(UDP_PACKET_SIZE * 8);
    expect(reasonOf(() => decodePacket(bomb))).toBe("too_large");
  });
});

describe("fuzz-ish: decodePacket only ever throws WireError", () => {
  function seeded(seed: number): () => number {
    let s = seed >>> 0;
    return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  }

  function expectOnlyWireError(buf: Uint8Array, opts?: Parameters<typeof decodePacket>[1]): void {
    try {
      decodePacket(buf, opts);
    } catch (err) {
      if (!(err instanceof WireError)) throw new Error(`non-WireError for ${hex(buf)}: ${String(err)}`);
    }
  }

  test("random buffers", () => {
    const rnd = seeded(1);
    for (let i = 0; i < 5000; i++) {
      const buf = new Uint8Array(rnd() % 80);
      for (let j = 0; j < buf.length; j++) buf[j] = rnd() & 0xff;
      if (buf.length > 0 && i % 2 === 0) buf[0] = rnd() % 14; // steer towards real type bytes
      expectOnlyWireError(buf);
    }
  });

  test("mutated valid packets", () => {
    const rnd = seeded(2);
    const ring = Keyring.fromSecrets("fuzz");
    const seeds = [
      ...samples.map(encodeMessage),
      encodeCompound(samples.slice(0, 9).map(encodeMessage)),
      encodePacket(encodeCompound(samples.slice(0, 9).map(encodeMessage)), { compress: true, crc: true }),
      encodeCompress(encodeCompound([encodeCompress(encodeMessage(samples[9])), encodeMessage(samples[3])])),
    ];
    for (let i = 0; i < 6000; i++) {
      const base = seeds[i % seeds.length];
      const buf = base.slice(0, rnd() % 4 === 0 ? rnd() % (base.length + 1) : base.length);
      const flips = 1 + (rnd() % 4);
      for (let f = 0; f < flips && buf.length > 0; f++) buf[rnd() % buf.length] = rnd() & 0xff;
      expectOnlyWireError(buf);
      expectOnlyWireError(buf, { onPartError: () => {} });
      if (i % 50 === 0) expectOnlyWireError(ring.encrypt(buf.length ? buf : new Uint8Array([0])), { keyring: ring });
    }
  });
});
