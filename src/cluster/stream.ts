// TCP stream messages (memberlist-wire.md §5): one request and at most one reply per connection.
// Build: type | body → compress (always, like Go) → encrypt as `0A | len u32 | blob` (AD = those 5 bytes).
// Read:  StreamDecoder is fed socket chunks and yields the message as soon as it is complete —
// plaintext has no length prefix and the Go dialer never half-closes, so it cannot wait for EOF.

import { MessageType, WireError, type Message, type PushNodeState } from "./messages.ts";
import { MsgpackReader, MsgpackWriter, valueEnd } from "./msgpack.ts";
import {
  asWireError,
  decodeAckBody,
  decodeErrBody,
  decodePingBody,
  encodeCompress,
  encodeMessage,
  pushNodeStateCodec,
  pushPullHeaderCodec,
  readCompressed,
  userMsgHeaderCodec,
} from "./codec.ts";
import { encryptedLength, type Keyring } from "./security.ts";
import { DEFAULT_MAX_DECOMPRESSED } from "./lzw.ts";

/** Go refuses encrypted stream payloads larger than this (maxPushStateBytes). We cap plaintext too. */
export const MAX_STREAM_BYTES = 20 * 1024 * 1024;
const ENCRYPT_HEADER = 5;

export interface StreamEncodeOptions {
  /** LZW-compress the payload, as Go does for every stream message. Default true. */
  compress?: boolean;
  /** Encrypt with the primary key. Omit for plaintext (no key, or GossipVerifyOutgoing=false). */
  keyring?: Keyring;
}

const writer = new MsgpackWriter(4096);

/**
 * The uncompressed, unencrypted stream form of a message: type byte + body.
 * pushPull = header + states + user state; user = userMsgHeader + raw bytes; ping/ackResp/err as on UDP.
 * Other types never travel on streams: WireError("invalid").
 */
export function encodeStreamPayload(msg: Message): Uint8Array {
  switch (msg.type) {
    case "ping":
    case "ackResp":
    case "err":
    case "pushPull":
      return encodeMessage(msg);
    case "user":
      writer.reset();
      writer.byte(MessageType.user);
      userMsgHeaderCodec.encode(writer, { userMsgLen: msg.body.length });
      writer.bytes(msg.body);
      return writer.finish();
    default:
      throw new WireError("invalid", `${msg.type} is not a stream message`);
  }
}

/** Everything to write on the socket for one stream message. */
export function encodeStreamMessage(msg: Message, opts: StreamEncodeOptions = {}): Uint8Array {
  let out = encodeStreamPayload(msg);
  if (opts.compress !== false) out = encodeCompress(out);
  if (opts.keyring) out = encryptStream(out, opts.keyring);
  return out;
}

/** `0A | len u32 | blob`, with the 5 header bytes as associated data (as Go). */
export function encryptStream(payload: Uint8Array, keyring: Keyring): Uint8Array {
  const header = new Uint8Array(ENCRYPT_HEADER);
  header[0] = MessageType.encrypt;
  new DataView(header.buffer).setUint32(1, encryptedLength(1, payload.length));
  const blob = keyring.encrypt(payload, header);
  const out = new Uint8Array(ENCRYPT_HEADER + blob.length);
  out.set(header);
  out.set(blob, ENCRYPT_HEADER);
  return out;
}

/**
 * Decodes a complete stream payload (after decryption): an optional compress{} wrapper, then
 * ping / ackResp / pushPull / user / err. Trailing bytes are ignored, as Go does.
 */
export function decodeStreamPayload(buf: Uint8Array, maxDecompressed = DEFAULT_MAX_DECOMPRESSED): Message {
  try {
    if (buf.length === 0) throw new WireError("empty", "empty stream payload");
    if (buf[0] === MessageType.compress) {
      const inner = readCompressed(new MsgpackReader(buf, 1), maxDecompressed);
      if (inner.length === 0) throw new WireError("empty", "empty decompressed stream payload");
      if (inner[0] === MessageType.compress) throw new WireError("unknown_type", "nested compress on a stream");
      return decodeStreamBody(inner);
    }
    return decodeStreamBody(buf);
  } catch (err) {
    throw asWireError(err);
  }
}

function decodeStreamBody(buf: Uint8Array): Message {
  const r = new MsgpackReader(buf, 1);
  switch (buf[0]) {
    case MessageType.ping:
      return { type: "ping", body: decodePingBody(r) };
    case MessageType.ackResp:
      return { type: "ackResp", body: decodeAckBody(r) };
    case MessageType.err:
      return { type: "err", body: decodeErrBody(r) };
    case MessageType.user: {
      const { userMsgLen } = userMsgHeaderCodec.decode(r);
      return { type: "user", body: takeRaw(r, userMsgLen, "user message") };
    }
    case MessageType.pushPull: {
      const h = pushPullHeaderCodec.decode(r);
      if (h.nodes < 0) throw new WireError("invalid", `pushPull: negative node count ${h.nodes}`);
      // Each state is at least one byte: a huge count fails here instead of allocating.
      if (h.nodes > r.remaining) throw new WireError("truncated", `pushPull: ${h.nodes} states announced, ${r.remaining} bytes left`);
      const states: PushNodeState[] = [];
      for (let i = 0; i < h.nodes; i++) states.push(pushNodeStateCodec.decode(r));
      return { type: "pushPull", body: { join: h.join, states, userState: takeRaw(r, h.userStateLen, "user state") } };
    }
    default:
      throw new WireError("unknown_type", `message type ${buf[0]} is not valid on a stream`);
  }
}

function takeRaw(r: MsgpackReader, len: number, what: string): Uint8Array {
  if (len < 0) throw new WireError("invalid", `${what}: negative length ${len}`);
  if (len > r.remaining) throw new WireError("truncated", `${what}: need ${len} bytes, have ${r.remaining}`);
  const out = r.buf.slice(r.pos, r.pos + len);
  r.pos += len;
  return out;
}

export interface StreamDecoderOptions {
  /** Installed keys; needed to read encrypted streams. */
  keyring?: Keyring;
  /**
   * With a keyring: refuse plaintext streams (WireError "plaintext"). false only during a key
   * rollout. Default true.
   */
  verifyIncoming?: boolean;
  /** Cap on the decompressed payload. Default 32 MiB. */
  maxDecompressedBytes?: number;
  /** Cap on bytes buffered for one message (and on the encrypted length field). Default 20 MiB. */
  maxBytes?: number;
}

// Progress of the plaintext framing scan, kept so each new chunk only scans what is new.
const Stage = {
  Type: 0, // waiting for the first byte (after an optional label)
  Single: 1, // one msgpack value: ping, ack, err, compress
  UserHeader: 2,
  PushHeader: 3,
  PushStates: 4,
  Raw: 5, // trailing raw bytes (user message / user state)
  Encrypted: 6,
  Done: 7,
} as const;
type Stage = (typeof Stage)[keyof typeof Stage];

/**
 * Incremental reader for one stream message. Feed it socket chunks with push(); it returns the
 * Message once complete (and null until then). Errors throw WireError; after a message or an
 * error the decoder is finished and ignores further input.
 */
export class StreamDecoder {
  private buf = new Uint8Array(0);
  private len = 0;
  private stage: Stage = Stage.Type;
  private start = 0; // where the message (type byte) begins, after a label
  private label: Uint8Array | undefined;
  private scan = 0; // scan position for the plaintext framing
  private statesLeft = 0;
  private rawLeft = 0;
  private readonly maxBytes: number;

  constructor(private readonly opts: StreamDecoderOptions = {}) {
    this.maxBytes = opts.maxBytes ?? MAX_STREAM_BYTES;
  }

  get done(): boolean {
    return this.stage === Stage.Done;
  }

  /** Bytes received so far for the current message. */
  get buffered(): number {
    return this.len;
  }

  push(chunk: Uint8Array): Message | null {
    if (this.stage === Stage.Done) return null;
    try {
      this.append(chunk);
      const msg = this.advance();
      if (msg) this.finish();
      return msg;
    } catch (err) {
      this.finish();
      throw asWireError(err);
    }
  }

  /**
   * The peer closed the connection. Throws WireError("truncated") if a message was started but is
   * incomplete; returns quietly if nothing arrived (Go treats that as a silent close) or if done.
   */
  end(): void {
    if (this.stage === Stage.Done || this.len === 0) return;
    this.finish();
    throw new WireError("truncated", `stream closed after ${this.len} bytes of an incomplete message`);
  }

  private finish(): void {
    this.stage = Stage.Done;
    this.buf = new Uint8Array(0);
    this.len = 0;
  }

  private append(chunk: Uint8Array): void {
    const need = this.len + chunk.length;
    // Label header (≤257) and encryption header ride on top of the payload limit.
    if (need > this.maxBytes + 512) {
      throw new WireError("too_large", `stream message exceeds ${this.maxBytes} bytes`);
    }
    if (need > this.buf.length) {
      const next = new Uint8Array(Math.max(need, this.buf.length * 2, 4096));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    this.buf.set(chunk, this.len);
    this.len = need;
  }

  private advance(): Message | null {
    const b = this.buf;
    for (;;) {
      switch (this.stage) {
        case Stage.Type: {
          if (this.len <= this.start) return null;
          const t = b[this.start];
          if (t === MessageType.hasLabel && this.label === undefined) {
            if (this.len < this.start + 2) return null;
            const n = b[this.start + 1];
            if (n === 0) throw new WireError("label", "stream label header is empty");
            if (this.len < this.start + 2 + n) return null;
            this.label = b.slice(this.start + 2, this.start + 2 + n);
            this.start += 2 + n;
            continue;
          }
          if (t === MessageType.encrypt) {
            if (!this.opts.keyring) throw new WireError("decrypt", "stream is encrypted but no keyring is configured");
            this.stage = Stage.Encrypted;
            continue;
          }
          if (this.opts.keyring && this.opts.verifyIncoming !== false) {
            throw new WireError("plaintext", "encryption is configured but the stream is not encrypted");
          }
          this.scan = this.start + 1;
          switch (t) {
            case MessageType.compress:
            case MessageType.ping:
            case MessageType.ackResp:
            case MessageType.err:
              this.stage = Stage.Single;
              break;
            case MessageType.user:
              this.stage = Stage.UserHeader;
              break;
            case MessageType.pushPull:
              this.stage = Stage.PushHeader;
              break;
            default:
              throw new WireError("unknown_type", `message type ${t} is not valid on a stream`);
          }
          continue;
        }
        case Stage.Encrypted: {
          const h = this.start;
          if (this.len < h + ENCRYPT_HEADER) return null;
          const size = new DataView(b.buffer, b.byteOffset + h + 1, 4).getUint32(0);
          if (size > this.maxBytes) {
            throw new WireError("too_large", `encrypted stream of ${size} bytes exceeds ${this.maxBytes}`);
          }
          if (this.len < h + ENCRYPT_HEADER + size) return null;
          let ad = b.subarray(h, h + ENCRYPT_HEADER);
          if (this.label) {
            ad = new Uint8Array(ENCRYPT_HEADER + this.label.length);
            ad.set(b.subarray(h, h + ENCRYPT_HEADER));
            ad.set(this.label, ENCRYPT_HEADER);
          }
          const keyring = this.opts.keyring;
          if (!keyring) throw new WireError("decrypt", "stream is encrypted but no keyring is configured");
          const plain = keyring.decrypt(b.subarray(h + ENCRYPT_HEADER, h + ENCRYPT_HEADER + size), ad);
          return decodeStreamPayload(plain, this.maxDecompressed());
        }
        case Stage.Single:
        case Stage.UserHeader:
        case Stage.PushHeader: {
          const end = valueEnd(b, this.scan, this.len);
          if (end < 0) return null;
          const valueStart = this.scan;
          this.scan = end;
          if (this.stage === Stage.Single) return this.decodePlain();
          const r = new MsgpackReader(b, valueStart, end);
          if (this.stage === Stage.UserHeader) {
            this.rawLeft = userMsgHeaderCodec.decode(r).userMsgLen;
            this.stage = Stage.Raw;
          } else {
            const header = pushPullHeaderCodec.decode(r);
            this.statesLeft = header.nodes;
            this.rawLeft = header.userStateLen;
            this.stage = Stage.PushStates;
          }
          if (this.rawLeft < 0 || this.statesLeft < 0) throw new WireError("invalid", "negative length in stream header");
          if (this.rawLeft > this.maxBytes) throw new WireError("too_large", `stream announces ${this.rawLeft} raw bytes`);
          continue;
        }
        case Stage.PushStates: {
          while (this.statesLeft > 0) {
            const end = valueEnd(b, this.scan, this.len);
            if (end < 0) return null;
            this.scan = end;
            this.statesLeft--;
          }
          this.stage = Stage.Raw;
          continue;
        }
        case Stage.Raw:
          if (this.len - this.scan < this.rawLeft) return null;
          this.scan += this.rawLeft;
          return this.decodePlain();
        case Stage.Done:
          return null;
      }
    }
  }

  private decodePlain(): Message {
    return decodeStreamPayload(this.buf.subarray(this.start, this.scan), this.maxDecompressed());
  }

  private maxDecompressed(): number {
    return this.opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED;
  }
}
