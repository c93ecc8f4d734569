import { describe, expect, test } from "bun:test";
import { bool, bytes, MsgpackReader, MsgpackWriter, omitEmpty, str, StructCodec, u32, valueEnd } from "../../src/cluster/msgpack.ts";
import { WireError } from "../../src/cluster/messages.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));

function write(f: (w: MsgpackWriter) => void): string {
  const w = new MsgpackWriter(4);
  f(w);
  return hex(w.finish());
}

function wireError(f: () => unknown): WireError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(WireError);
    return err as WireError;
  }
  throw new Error("expected a WireError");
}

describe("MsgpackWriter (go-msgpack 0.5.5 forms)", () => {
  test("unsigned ints use the smallest form", () => {
    expect(write((w) => w.uint(0))).toBe("00");
    expect(write((w) => w.uint(127))).toBe("7f");
    expect(write((w) => w.uint(128))).toBe("cc80");
    expect(write((w) => w.uint(255))).toBe("ccff");
    expect(write((w) => w.uint(256))).toBe("cd0100");
    expect(write((w) => w.uint(65535))).toBe("cdffff");
    expect(write((w) => w.uint(65536))).toBe("ce00010000");
    expect(write((w) => w.uint(0xffffffff))).toBe("ceffffffff");
    expect(write((w) => w.uint(0x100000000))).toBe("cf0000000100000000");
  });

  test("Go int: non-negative as unsigned (0.2.2), negative as smallest signed", () => {
    expect(write((w) => w.int(300))).toBe("cd012c");
    expect(write((w) => w.int(-1))).toBe("ff");
    expect(write((w) => w.int(-32))).toBe("e0");
    expect(write((w) => w.int(-33))).toBe("d0df");
    expect(write((w) => w.int(-129))).toBe("d1ff7f");
    expect(write((w) => w.int(-40000))).toBe("d2ffff63c0");
    expect(write((w) => w.int(-(2 ** 40)))).toBe("d3ffffff0000000000");
  });

  test("strings and bytes are legacy raw, never str8 or bin", () => {
    expect(write((w) => w.str(""))).toBe("a0");
    expect(write((w) => w.str("b"))).toBe("a162");
    expect(write((w) => w.str("x".repeat(31)))).toBe("bf" + "78".repeat(31));
    expect(write((w) => w.str("x".repeat(32)))).toBe("da0020" + "78".repeat(32));
    expect(write((w) => w.raw(new Uint8Array(200)))).toBe("da00c8" + "00".repeat(200));
    expect(write((w) => w.raw(new Uint8Array(70000))).slice(0, 10)).toBe("db00011170");
    expect(write((w) => w.str("é"))).toBe("a2c3a9");
    expect(write((w) => w.nil())).toBe("c0");
  });

  test("bool and map headers", () => {
    expect(write((w) => w.bool(true))).toBe("c3");
    expect(write((w) => w.bool(false))).toBe("c2");
    expect(write((w) => w.mapHeader(15))).toBe("8f");
    expect(write((w) => w.mapHeader(16))).toBe("de0010");
  });

  test("rejects values Go could not encode", () => {
    expect(wireError(() => write((w) => w.uint(-1))).reason).toBe("invalid");
    expect(wireError(() => write((w) => w.uint(1.5))).reason).toBe("invalid");
  });

  test("grows past its initial size", () => {
    const w = new MsgpackWriter(1);
    for (let i = 0; i < 1000; i++) w.uint(65536 + i);
    const r = new MsgpackReader(w.finish());
    for (let i = 0; i < 1000; i++) expect(r.readInt()).toBe(65536 + i);
  });
});

describe("MsgpackReader", () => {
  test("reads every int form, signed and unsigned", () => {
    const cases: [string, number][] = [
      ["05", 5],
      ["f0", -16],
      ["cc05", 5],
      ["cd0005", 5],
      ["ce00000005", 5],
      ["cf0000000000000005", 5],
      ["d005", 5],
      ["d0fb", -5],
      ["d1fffb", -5],
      ["d2fffffffb", -5],
      ["d3fffffffffffffffb", -5],
      ["d3000000000000012c", 300],
    ];
    for (const [h, v] of cases) expect(new MsgpackReader(unhex(h)).readInt()).toBe(v);
  });

  test("readUint rejects negatives and overflow, maps nil to 0", () => {
    expect(wireError(() => new MsgpackReader(unhex("ff")).readUint(0xffff)).reason).toBe("msgpack");
    expect(wireError(() => new MsgpackReader(unhex("ce00010000")).readUint(0xffff)).reason).toBe("msgpack");
    expect(new MsgpackReader(unhex("c0")).readUint(0xff)).toBe(0);
    expect(wireError(() => new MsgpackReader(unhex("cfffffffffffffffff")).readInt()).reason).toBe("msgpack");
  });

  test("bytes from raw, str8, bin and nil", () => {
    for (const h of ["a3616263", "d903616263", "da0003616263", "db00000003616263", "c403616263", "c50003616263"]) {
      expect(hex(new MsgpackReader(unhex(h)).readBytes())).toBe("616263");
      expect(new MsgpackReader(unhex(h)).readStr()).toBe("abc");
    }
    expect(new MsgpackReader(unhex("c0")).readBytesOrNull()).toBeNull();
    expect(new MsgpackReader(unhex("c0")).readStr()).toBe("");
  });

  test("bool also from 0/1", () => {
    expect(new MsgpackReader(unhex("01")).readBool()).toBe(true);
    expect(new MsgpackReader(unhex("00")).readBool()).toBe(false);
    expect(new MsgpackReader(unhex("c3")).readBool()).toBe(true);
    expect(wireError(() => new MsgpackReader(unhex("02")).readBool()).reason).toBe("msgpack");
  });

  test("truncation is a WireError('truncated'), never a RangeError", () => {
    for (const h of ["", "cd01", "ce0000", "cf00", "d1", "da00", "da0005616263", "db000000ff", "de00"]) {
      const r = new MsgpackReader(unhex(h));
      const err = wireError(() => {
        r.readInt();
      });
      expect(["truncated", "msgpack"]).toContain(err.reason);
    }
    expect(wireError(() => new MsgpackReader(unhex("a5616263")).readBytes()).reason).toBe("truncated");
  });

  test("respects an end bound inside a larger buffer", () => {
    const buf = unhex("a3616263");
    expect(wireError(() => new MsgpackReader(buf, 0, 3).readBytes()).reason).toBe("truncated");
  });
});

describe("valueEnd", () => {
  test("finds the end of nested values", () => {
    const v = unhex("82 a161 93 01 cd0102 a3616263 a162 c9 00000002 05 aabb");
    expect(valueEnd(v, 0)).toBe(v.length);
    for (let cut = 0; cut < v.length; cut++) expect(valueEnd(v.subarray(0, cut), 0)).toBe(-1);
  });

  test("huge announced containers do not loop forever or allocate", () => {
    expect(valueEnd(unhex("dfffffffff"), 0)).toBe(-1);
    expect(valueEnd(unhex("ddffffffff00"), 0)).toBe(-1);
  });

  test("c1 is invalid", () => {
    expect(wireError(() => valueEnd(unhex("c1"), 0)).reason).toBe("msgpack");
  });
});

interface Sample {
  seqNo: number;
  name: string;
  data: Uint8Array;
  flag: boolean;
  opt?: string;
}

const sampleCodec = new StructCodec<Sample>(
  "sample",
  { seqNo: 0, name: "", data: new Uint8Array(0), flag: false },
  { seqNo: u32("SeqNo"), name: str("Name"), data: bytes("Data"), flag: bool("Flag"), opt: omitEmpty(str("Opt")) },
);

describe("StructCodec", () => {
  test("keys sorted bytewise, omitempty left out", () => {
    const w = new MsgpackWriter();
    sampleCodec.encode(w, { seqNo: 1, name: "n", data: new Uint8Array([9]), flag: true });
    // Data < Flag < Name < SeqNo
    expect(hex(w.finish())).toBe(hex(unhex("84 a4 44617461 a1 09 a4 466c6167 c3 a4 4e616d65 a1 6e a5 5365714e6f 01")));
  });

  test("decodes any key order, skips unknown keys, zero-fills missing ones", () => {
    const w = new MsgpackWriter();
    w.mapHeader(4);
    w.str("Zzz");
    w.mapHeader(1);
    w.str("k");
    w.raw(new Uint8Array(3));
    w.str("Opt");
    w.str("o");
    w.str("SeqNo");
    w.byte(0xd2);
    w.u32(7);
    w.str("seqno"); // case-sensitive: unknown
    w.uint(99);
    const v = sampleCodec.decode(new MsgpackReader(w.finish()));
    expect(v).toEqual({ seqNo: 7, name: "", data: new Uint8Array(0), flag: false, opt: "o" });
  });

  test("a value of the wrong type for its field is a decode error, not a wrong-typed property", () => {
    const w = new MsgpackWriter();
    w.mapHeader(1);
    w.str("SeqNo");
    w.str("seven");
    expect(wireError(() => sampleCodec.decode(new MsgpackReader(w.finish()))).reason).toBe("msgpack");
  });

  test("rejects a struct encoded as an array", () => {
    expect(wireError(() => sampleCodec.decode(new MsgpackReader(unhex("9101")))).reason).toBe("msgpack");
  });
});
