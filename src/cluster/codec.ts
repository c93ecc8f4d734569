// Message ⇄ bytes, and the UDP packet layers around messages (memberlist-wire.md §2–3).
// Send:    encodeMessage → [makeCompoundPackets] → encodePacket (compress? → crc? → encrypt?)
// Receive: decodePacket (label → decrypt → crc → compress/compound, recursively) → Message[]
// Every malformed input throws WireError with a DropReason; nothing else escapes.

import {
  MessageType,
  WireError,
  type AckResp,
  type Alive,
  type Dead,
  type ErrResp,
  type IndirectPingReq,
  type Message,
  type NackResp,
  type Ping,
  type PushNodeState,
  type PushPull,
  type PushPullHeader,
  type Suspect,
} from "./messages.ts";
import { bool, bytes, int, MsgpackReader, MsgpackWriter, nbytes, omitEmpty, str, StructCodec, u16, u32, u8, vsn } from "./msgpack.ts";
import { compress as lzwCompress, decompress as lzwDecompress } from "./lzw.ts";
import type { Keyring } from "./security.ts";

const EMPTY = new Uint8Array(0);

// ---- struct schemas (Go field names; the zero value is what missing fields decode as) ----

const pingCodec = new StructCodec<Ping>(
  "ping",
  { seqNo: 0, node: "" },
  {
    seqNo: u32("SeqNo"),
    node: str("Node"),
    sourceAddr: omitEmpty(bytes("SourceAddr")),
    sourcePort: omitEmpty(u16("SourcePort")),
    sourceNode: omitEmpty(str("SourceNode")),
  },
);

const indirectPingCodec = new StructCodec<IndirectPingReq>(
  "indirectPingReq",
  { seqNo: 0, target: EMPTY, port: 0, node: "", nack: false },
  {
    seqNo: u32("SeqNo"),
    target: bytes("Target"),
    port: u16("Port"),
    node: str("Node"),
    nack: bool("Nack"),
    sourceAddr: omitEmpty(bytes("SourceAddr")),
    sourcePort: omitEmpty(u16("SourcePort")),
    sourceNode: omitEmpty(str("SourceNode")),
  },
);

const ackCodec = new StructCodec<AckResp>("ackResp", { seqNo: 0, payload: null }, { seqNo: u32("SeqNo"), payload: nbytes("Payload") });

const nackCodec = new StructCodec<NackResp>("nackResp", { seqNo: 0 }, { seqNo: u32("SeqNo") });

const suspectCodec = new StructCodec<Suspect>("suspect", { incarnation: 0, node: "", from: "" }, { incarnation: u32("Incarnation"), node: str("Node"), from: str("From") });
const deadCodec = new StructCodec<Dead>("dead", { incarnation: 0, node: "", from: "" }, { incarnation: u32("Incarnation"), node: str("Node"), from: str("From") });

const aliveCodec = new StructCodec<Alive>(
  "alive",
  { incarnation: 0, node: "", addr: EMPTY, port: 0, meta: EMPTY, vsn: [0, 0, 0, 0, 0, 0] },
  { incarnation: u32("Incarnation"), node: str("Node"), addr: bytes("Addr"), port: u16("Port"), meta: bytes("Meta"), vsn: vsn("Vsn") },
);

export const pushPullHeaderCodec = new StructCodec<PushPullHeader>(
  "pushPullHeader",
  { nodes: 0, userStateLen: 0, join: false },
  { nodes: int("Nodes"), userStateLen: int("UserStateLen"), join: bool("Join") },
);

export const pushNodeStateCodec = new StructCodec<PushNodeState>(
  "pushNodeState",
  { name: "", addr: EMPTY, port: 0, meta: EMPTY, incarnation: 0, state: 0, vsn: [0, 0, 0, 0, 0, 0] },
  { name: str("Name"), addr: bytes("Addr"), port: u16("Port"), meta: bytes("Meta"), incarnation: u32("Incarnation"), state: int("State"), vsn: vsn("Vsn") },
);

export interface UserMsgHeader {
  userMsgLen: number;
}
export const userMsgHeaderCodec = new StructCodec<UserMsgHeader>("userMsgHeader", { userMsgLen: 0 }, { userMsgLen: int("UserMsgLen") });

const errCodec = new StructCodec<ErrResp>("errResp", { error: "" }, { error: str("Error") });

interface CompressBody {
  algo: number;
  buf: Uint8Array;
}
const compressCodec = new StructCodec<CompressBody>("compress", { algo: 0, buf: EMPTY }, { algo: u8("Algo"), buf: bytes("Buf") });

// ---- single messages ----

// One reusable writer: encoding is synchronous, and finish() copies out.
const writer = new MsgpackWriter(2048);

/** Writes a Message (type byte + body) into `w`. pushPull is written in its stream form. */
function writeMessage(w: MsgpackWriter, msg: Message): void {
  switch (msg.type) {
    case "ping":
      w.byte(MessageType.ping);
      return pingCodec.encode(w, msg.body);
    case "indirectPing":
      w.byte(MessageType.indirectPing);
      return indirectPingCodec.encode(w, msg.body);
    case "ackResp":
      w.byte(MessageType.ackResp);
      return ackCodec.encode(w, msg.body);
    case "nackResp":
      w.byte(MessageType.nackResp);
      return nackCodec.encode(w, msg.body);
    case "suspect":
      w.byte(MessageType.suspect);
      return suspectCodec.encode(w, msg.body);
    case "alive":
      w.byte(MessageType.alive);
      return aliveCodec.encode(w, msg.body);
    case "dead":
      w.byte(MessageType.dead);
      return deadCodec.encode(w, msg.body);
    case "user":
      w.byte(MessageType.user);
      return w.bytes(msg.body);
    case "err":
      w.byte(MessageType.err);
      return errCodec.encode(w, msg.body);
    case "pushPull":
      return writePushPull(w, msg.body);
  }
}

function writePushPull(w: MsgpackWriter, pp: PushPull): void {
  w.byte(MessageType.pushPull);
  pushPullHeaderCodec.encode(w, { nodes: pp.states.length, userStateLen: pp.userState.length, join: pp.join });
  for (const s of pp.states) pushNodeStateCodec.encode(w, s);
  w.bytes(pp.userState);
}

/**
 * Encodes one message: type byte + msgpack body (Go's `encode()`).
 * `user` gets the UDP form (raw bytes after the type byte); `pushPull` gets its stream form —
 * send both of those over TCP with stream.ts (encodeStreamMessage) instead.
 * Throws WireError("invalid") for values Go could not have produced (e.g. a Vsn that is not 6 bytes).
 */
export function encodeMessage(msg: Message): Uint8Array {
  writer.reset();
  writeMessage(writer, msg);
  return writer.finish();
}

/**
 * Decodes one UDP message (type byte first). Only the leaf types valid in packets are accepted
 * (ping, indirectPing, ackResp, nackResp, suspect, alive, dead, user); wrappers go through decodePacket.
 */
export function decodeMessage(buf: Uint8Array): Message {
  if (buf.length === 0) throw new WireError("empty", "empty message");
  const r = new MsgpackReader(buf, 1);
  switch (buf[0]) {
    case MessageType.ping:
      return { type: "ping", body: pingCodec.decode(r) };
    case MessageType.indirectPing:
      return { type: "indirectPing", body: indirectPingCodec.decode(r) };
    case MessageType.ackResp:
      return { type: "ackResp", body: ackCodec.decode(r) };
    case MessageType.nackResp:
      return { type: "nackResp", body: nackCodec.decode(r) };
    case MessageType.suspect:
      return { type: "suspect", body: suspectCodec.decode(r) };
    case MessageType.alive:
      return { type: "alive", body: aliveCodec.decode(r) };
    case MessageType.dead:
      return { type: "dead", body: deadCodec.decode(r) };
    case MessageType.user:
      return { type: "user", body: buf.slice(1) };
    default:
      throw new WireError("unknown_type", `message type ${buf[0]} is not valid in a packet`);
  }
}

/** Decodes the TCP-only bodies: errResp (type 13). Exposed for stream.ts. */
export function decodeErrBody(r: MsgpackReader): ErrResp {
  return errCodec.decode(r);
}

/** Decodes ping / ackResp bodies for stream.ts (same schema as UDP). */
export function decodePingBody(r: MsgpackReader): Ping {
  return pingCodec.decode(r);
}
export function decodeAckBody(r: MsgpackReader): AckResp {
  return ackCodec.decode(r);
}

// ---- compression wrapper ----

/** `09 | msgpack compress{Algo:0, Buf: lzw(inner)}`. */
export function encodeCompress(inner: Uint8Array): Uint8Array {
  writer.reset();
  writer.byte(MessageType.compress);
  compressCodec.encode(writer, { algo: 0, buf: lzwCompress(inner) });
  return writer.finish();
}

/**
 * Reads a compress{} body from `r` and returns the decompressed payload.
 * Unknown algorithm → WireError("lzw"); see lzw.decompress for the other errors.
 */
export function readCompressed(r: MsgpackReader, maxOutput: number): Uint8Array {
  const c = compressCodec.decode(r);
  if (c.algo !== 0) throw new WireError("lzw", `compress: unknown algorithm ${c.algo}`);
  return lzwDecompress(c.buf, maxOutput);
}

// ---- compound ----

/** Go 0.2.2 computes the length table size in 8 bits, so never send more parts than this. */
export const MAX_COMPOUND_PARTS = 127;
/** Go's UDPBufferSize: the packet size Go fills up to. */
export const UDP_PACKET_SIZE = 1400;

function checkPart(p: Uint8Array): void {
  if (p.length === 0) throw new WireError("empty", "compound: empty part (crashes Go 0.2.2)");
  if (p.length > 0xffff) throw new WireError("too_large", `compound: part of ${p.length} bytes exceeds 65535`);
}

/** `07 | n | n×u16 len | parts`. 1..127 non-empty parts of ≤65535 bytes, else WireError. */
export function encodeCompound(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 0 || parts.length > MAX_COMPOUND_PARTS) {
    throw new WireError("invalid", `compound: ${parts.length} parts (need 1..${MAX_COMPOUND_PARTS})`);
  }
  let size = 2 + 2 * parts.length;
  for (const p of parts) {
    checkPart(p);
    size += p.length;
  }
  const out = new Uint8Array(size);
  out[0] = MessageType.compound;
  out[1] = parts.length;
  let o = 2;
  for (const p of parts) {
    out[o++] = p.length >> 8;
    out[o++] = p.length & 0xff;
  }
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Packs encoded messages into as few packets as fit in `budgetBytes` each (first-fit, largest
 * first; order within a packet is kept). A packet with one message is that message as-is;
 * several become a compound (≤127 parts). A message larger than the budget on its own gets a
 * packet of its own. The budget is the size before encryption/CRC: for Go parity use
 * UDP_PACKET_SIZE − ENCRYPT_OVERHEAD (when encrypting) − 5 (when adding a CRC).
 */
export function makeCompoundPackets(parts: readonly Uint8Array[], budgetBytes: number): Uint8Array[] {
  for (const p of parts) checkPart(p);
  const order = parts.map((_, i) => i).sort((a, b) => parts[b].length - parts[a].length || a - b);
  const bins: { idx: number[]; bytes: number }[] = [];
  for (const i of order) {
    const len = parts[i].length;
    let placed = false;
    for (const bin of bins) {
      const n = bin.idx.length + 1;
      if (n <= MAX_COMPOUND_PARTS && 2 + 2 * n + bin.bytes + len <= budgetBytes) {
        bin.idx.push(i);
        bin.bytes += len;
        placed = true;
        break;
      }
    }
    if (!placed) bins.push({ idx: [i], bytes: len });
  }
  return bins.map((bin) => {
    if (bin.idx.length === 1) return parts[bin.idx[0]];
    bin.idx.sort((a, b) => a - b);
    return encodeCompound(bin.idx.map((i) => parts[i]));
  });
}

// ---- packet pipeline ----

export interface PacketEncodeOptions {
  /** Wrap in compress{} when that makes the packet smaller (Go's EnableCompression). Default false. */
  compress?: boolean;
  /** Prefix a CRC header (Go does for receivers with PMax ≥ 5). Default false. */
  crc?: boolean;
  /** Encrypt with the keyring's primary key. Omit to send plaintext (no key, or GossipVerifyOutgoing=false). */
  keyring?: Keyring;
}

/** payload (a message or compound) → [compress] → [CRC] → [encrypt]. Never adds a label. */
export function encodePacket(payload: Uint8Array, opts: PacketEncodeOptions = {}): Uint8Array {
  if (payload.length === 0) throw new WireError("empty", "refusing to send an empty packet (crashes Go 0.2.2)");
  let out = payload;
  if (opts.compress) {
    const c = encodeCompress(out);
    if (c.length < out.length) out = c;
  }
  if (opts.crc) {
    const framed = new Uint8Array(out.length + 5);
    framed[0] = MessageType.hasCrc;
    new DataView(framed.buffer).setUint32(1, Bun.hash.crc32(out));
    framed.set(out, 5);
    out = framed;
  }
  if (opts.keyring) out = opts.keyring.encrypt(out);
  return out;
}

export interface PacketDecodeOptions {
  /** Installed keys. With verifyIncoming (default), undecryptable packets are dropped ("decrypt"). */
  keyring?: Keyring;
  /** false while rolling out a key: undecryptable packets are treated as plaintext. Default true. */
  verifyIncoming?: boolean;
  /** Cap on any one decompressed payload. Default 256 KiB (UDP packets are ≤64 KiB). */
  maxDecompressedBytes?: number;
  /**
   * Called for each bad part of a compound (Go drops just that part and keeps the rest).
   * Without it, the first bad part throws and the whole packet is lost.
   */
  onPartError?: (err: WireError) => void;
}

/** Nesting allowed below the outer packet (compress ⊃ compound ⊃ compress … ). */
const MAX_PACKET_DEPTH = 4;
const DEFAULT_PACKET_DECOMPRESS = 256 * 1024;

/**
 * A received UDP datagram → the messages it carries, in order.
 * Strips a label header, decrypts (if a keyring is set), verifies/strips a CRC header, then
 * unwraps compress and compound recursively (depth-limited). Throws WireError on malformed input.
 */
export function decodePacket(buf: Uint8Array, opts: PacketDecodeOptions = {}): Message[] {
  try {
    return decodePacketLayers(buf, opts);
  } catch (err) {
    throw asWireError(err);
  }
}

/** Anything but a WireError escaping a decoder is a bug; still report it as a drop, not a crash. */
export function asWireError(err: unknown): WireError {
  if (err instanceof WireError) return err;
  return new WireError("invalid", `unexpected decoder error: ${err instanceof Error ? err.message : String(err)}`);
}

function decodePacketLayers(buf: Uint8Array, opts: PacketDecodeOptions): Message[] {
  if (buf.length === 0) throw new WireError("empty", "empty packet");
  let label: Uint8Array | undefined;
  if (buf[0] === MessageType.hasLabel) {
    if (buf.length < 2) throw new WireError("truncated", "label: missing length");
    const len = buf[1];
    if (len === 0) throw new WireError("label", "label: empty label header");
    if (buf.length < 2 + len) throw new WireError("truncated", "label: truncated");
    label = buf.subarray(2, 2 + len);
    buf = buf.subarray(2 + len);
    if (buf.length === 0) throw new WireError("empty", "empty packet after label");
  }
  if (opts.keyring) {
    try {
      buf = opts.keyring.decrypt(buf, label);
    } catch (err) {
      // Whatever the detail (short blob, bad version, no key fits), for the receiver it is a packet it cannot decrypt.
      if (opts.verifyIncoming !== false) throw new WireError("decrypt", asWireError(err).message);
      // Key rollout: fall back to reading the packet as plaintext.
    }
    if (buf.length === 0) throw new WireError("empty", "empty packet after decryption");
  }
  if (buf[0] === MessageType.hasCrc) {
    if (buf.length < 5) throw new WireError("truncated", "crc: truncated header");
    const inner = buf.subarray(5);
    const expected = new DataView(buf.buffer, buf.byteOffset + 1, 4).getUint32(0);
    if (Bun.hash.crc32(inner) !== expected) throw new WireError("crc", "crc: checksum mismatch");
    if (inner.length === 0) throw new WireError("empty", "crc: nothing after the header");
    buf = inner;
  }
  const out: Message[] = [];
  decodeInto(buf, 0, out, opts.maxDecompressedBytes ?? DEFAULT_PACKET_DECOMPRESS, opts.onPartError);
  return out;
}

function decodeInto(
  buf: Uint8Array,
  depth: number,
  out: Message[],
  maxDecompressed: number,
  onPartError: ((err: WireError) => void) | undefined,
): void {
  if (buf.length === 0) throw new WireError("empty", "empty message");
  switch (buf[0]) {
    case MessageType.compress: {
      if (depth >= MAX_PACKET_DEPTH) throw new WireError("invalid", "packet nested too deeply");
      const inner = readCompressed(new MsgpackReader(buf, 1), maxDecompressed);
      return decodeInto(inner, depth + 1, out, maxDecompressed, onPartError);
    }
    case MessageType.compound: {
      if (depth >= MAX_PACKET_DEPTH) throw new WireError("invalid", "packet nested too deeply");
      const parts = splitCompound(buf);
      for (const part of parts.parts) {
        try {
          decodeInto(part, depth + 1, out, maxDecompressed, onPartError);
        } catch (err) {
          if (!onPartError) throw err;
          onPartError(asWireError(err));
        }
      }
      if (parts.truncated > 0) {
        const err = new WireError("truncated", `compound: ${parts.truncated} truncated parts`);
        if (!onPartError) throw err;
        onPartError(err);
      }
      return;
    }
    default:
      out.push(decodeMessage(buf));
  }
}

/** Splits `07 | n | lens | parts`; parts past the end of the buffer are counted, not returned (as Go). */
export function splitCompound(buf: Uint8Array): { parts: Uint8Array[]; truncated: number } {
  if (buf.length < 2) throw new WireError("truncated", "compound: missing part count");
  const n = buf[1];
  let o = 2 + 2 * n;
  if (buf.length < o) throw new WireError("truncated", "compound: truncated length table");
  const parts: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const len = (buf[2 + 2 * i] << 8) | buf[3 + 2 * i];
    if (o + len > buf.length) return { parts, truncated: n - i };
    parts.push(buf.subarray(o, o + len));
    o += len;
  }
  return { parts, truncated: 0 };
}
