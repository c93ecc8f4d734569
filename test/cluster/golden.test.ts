// Packets captured from real Go memberlist 0.2.2 nodes: we must decode them, and re-encoding each
// leaf message (and re-compressing each LZW payload) must reproduce Go's bytes exactly.

import { describe, expect, test } from "bun:test";
import { GO_PACKETS, GO_STREAMS, GOLDEN_KEY } from "./golden-go.ts";
import { decodeMessage, decodePacket, encodeMessage, splitCompound } from "../../src/cluster/codec.ts";
import { Keyring } from "../../src/cluster/security.ts";
import { compress, decompress } from "../../src/cluster/lzw.ts";
import { MsgpackReader } from "../../src/cluster/msgpack.ts";
import type { Message } from "../../src/cluster/messages.ts";
import { StreamDecoder, encodeStreamMessage, encodeStreamPayload } from "../../src/cluster/stream.ts";

const ring = new Keyring(GOLDEN_KEY);
const unhex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Peels the layers by hand (independently of decodePacket) and returns the leaf messages' bytes plus what was seen. */
function peel(raw: Uint8Array): { leaves: Uint8Array[]; layers: string[] } {
  const layers: string[] = [];
  let buf = raw;
  if (buf[0] === 1) {
    buf = ring.decrypt(buf);
    layers.push("encrypt");
  }
  if (buf[0] === 12) {
    layers.push("crc");
    expect(new DataView(buf.buffer, buf.byteOffset).getUint32(1)).toBe(Bun.hash.crc32(buf.subarray(5)));
    buf = buf.subarray(5);
  }
  const leaves: Uint8Array[] = [];
  const walk = (b: Uint8Array): void => {
    if (b[0] === 9) {
      layers.push("compress");
      const r = new MsgpackReader(b, 1);
      expect(r.readMapHeader()).toBe(2);
      expect(r.readStr()).toBe("Algo");
      expect(r.readInt()).toBe(0);
      expect(r.readStr()).toBe("Buf");
      const lzw = r.readBytes();
      const inner = decompress(lzw);
      expect(compress(inner)).toEqual(lzw); // our LZW writer matches Go's byte for byte
      walk(inner);
    } else if (b[0] === 7) {
      layers.push("compound");
      const { parts, truncated } = splitCompound(b);
      expect(truncated).toBe(0);
      for (const p of parts) walk(p);
    } else leaves.push(b);
  };
  walk(buf);
  return { leaves, layers };
}

function summary(m: Message): string {
  switch (m.type) {
    case "alive":
      return `alive ${m.body.node} meta=${text(m.body.meta)} vsn=${m.body.vsn.join(".")}`;
    case "dead":
    case "suspect":
      return `${m.type} ${m.body.node} from=${m.body.from}`;
    case "ping":
      return `ping ${m.body.node}${m.body.sourceNode ? ` src=${m.body.sourceNode}` : ""}`;
    case "ackResp":
      return `ack payload=${m.body.payload === null ? "nil" : m.body.payload.length}`;
    default:
      return m.type;
  }
}

const expected: Record<keyof typeof GO_PACKETS, { layers: string[]; messages: string[] }> = {
  plainCompound: {
    layers: ["compound"],
    messages: ["ack payload=nil", "alive go-plain meta=plain-meta vsn=1.5.2.0.0.0"],
  },
  encryptedCompressedCompound: {
    layers: ["encrypt", "compress", "compound"],
    messages: ["ack payload=nil", "alive go-b meta=meta-b vsn=1.5.2.0.0.0", "alive go-a meta=meta-a vsn=1.5.2.0.0.0"],
  },
  encryptedCrcCompressedCompound: {
    layers: ["encrypt", "crc", "compress", "compound"],
    messages: ["alive ts-fake meta=fake-meta vsn=1.5.2.0.0.0", "alive go-b meta=meta-b vsn=1.5.2.0.0.0", "alive go-a meta=meta-a vsn=1.5.2.0.0.0"],
  },
  encryptedPingWithSource: {
    layers: ["encrypt"],
    messages: ["ping ts-fake src=go-b"],
  },
  encryptedCrcDead: {
    layers: ["encrypt", "crc"],
    messages: ["dead go-b from=go-b"],
  },
};

describe("golden packets from Go memberlist 0.2.2", () => {
  for (const [name, hex] of Object.entries(GO_PACKETS) as [keyof typeof GO_PACKETS, string][]) {
    test(name, () => {
      const raw = unhex(hex);
      const want = expected[name];
      const msgs = decodePacket(raw, name.startsWith("encrypted") ? { keyring: ring } : {});
      expect(msgs.map(summary)).toEqual(want.messages);

      const { leaves, layers } = peel(raw);
      expect(layers).toEqual(want.layers);
      expect(leaves.length).toBe(msgs.length);
      for (let i = 0; i < leaves.length; i++) {
        expect(decodeMessage(leaves[i])).toEqual(msgs[i]);
        expect(Buffer.from(encodeMessage(msgs[i])).toString("hex")).toBe(Buffer.from(leaves[i]).toString("hex"));
      }
      for (const m of msgs) {
        if (m.type === "alive") {
          expect(m.body.addr).toEqual(new Uint8Array([127, 0, 0, 1]));
          expect(m.body.port).toBeGreaterThan(0);
        }
        if (m.type === "ping") {
          expect(m.body.sourceAddr).toEqual(new Uint8Array([127, 0, 0, 1]));
          expect(m.body.sourcePort).toBeGreaterThan(0);
        }
      }
    });
  }

  test("the encrypted captures do not decode without the key", () => {
    expect(() => decodePacket(unhex(GO_PACKETS.encryptedCrcDead))).toThrow();
    expect(() => decodePacket(unhex(GO_PACKETS.encryptedCrcDead), { keyring: Keyring.fromSecrets("wrong") })).toThrow();
  });
});

describe("golden TCP replies from Go memberlist 0.2.2", () => {
  /** Decrypts (if needed) and unwraps compress by hand; returns Go's uncompressed stream payload. */
  function payloadOf(raw: Uint8Array): Uint8Array {
    let buf = raw;
    if (buf[0] === 10) {
      const len = new DataView(buf.buffer, buf.byteOffset).getUint32(1);
      expect(buf.length).toBe(5 + len);
      buf = ring.decrypt(buf.subarray(5), buf.subarray(0, 5));
    }
    expect(buf[0]).toBe(9); // Go always compresses stream payloads
    const r = new MsgpackReader(buf, 1);
    r.readMapHeader();
    r.readStr();
    r.readInt();
    r.readStr();
    const lzw = r.readBytes();
    expect(compress(decompress(lzw))).toEqual(lzw);
    return decompress(lzw);
  }

  for (const [name, hex] of Object.entries(GO_STREAMS)) {
    test(`${name}: decodes byte by byte, and re-encodes to Go's exact payload`, () => {
      const raw = unhex(hex);
      const dec = new StreamDecoder(name.startsWith("encrypted") ? { keyring: ring } : {});
      let msg: Message | null = null;
      for (let i = 0; i < raw.length; i++) {
        const m = dec.push(raw.subarray(i, i + 1));
        if (m) {
          expect(i).toBe(raw.length - 1); // complete exactly at the last byte, without EOF
          msg = m;
        }
      }
      if (!msg) throw new Error("no message");
      const payload = payloadOf(raw);
      expect(Buffer.from(encodeStreamPayload(msg)).toString("hex")).toBe(Buffer.from(payload).toString("hex"));
      // Our framing of the same message: identical bytes in plaintext, identical length when encrypted (random nonce).
      const ours = encodeStreamMessage(msg, name.startsWith("encrypted") ? { keyring: ring } : {});
      expect(ours.length).toBe(raw.length);
      if (!name.startsWith("encrypted")) expect(ours).toEqual(raw);

      if (msg.type === "pushPull") {
        expect(msg.body.states.map((s) => `${s.name}:${text(s.meta)}:${s.state}`).sort()).toEqual(["go-a:meta-a:0", "go-b:meta-b:0"]);
        expect(msg.body.userState.length).toBe(0);
      }
      if (msg.type === "err") expect(msg.body.error).toBe("Encryption is configured but remote state is not encrypted");
      if (msg.type === "ackResp") expect(msg.body).toEqual({ seqNo: 5, payload: null });
    });
  }
});
