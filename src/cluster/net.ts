// Packet plumbing between the transport and the engine: decrypt/decode/validate/count inbound
// datagrams, and encode/piggyback/compound/encrypt outbound ones within the 1400-byte budget.

import type { Logger } from "../log.ts";
import { bytesToIp, formatHostPort } from "../netutil.ts";
import { asWireError, decodePacket, encodeCompound, encodeMessage, encodePacket, MAX_COMPOUND_PARTS, UDP_PACKET_SIZE } from "./codec.ts";
import type { Message } from "./messages.ts";
import { MessageType, type WireError } from "./messages.ts";
import type { GossipCounters, GossipDropReason } from "./metrics.ts";
import { ENCRYPT_OVERHEAD, type Keyring } from "./security.ts";
import { encodeStreamMessage, StreamDecoder } from "./stream.ts";
import type { Endpoint, Stream } from "./transport.ts";

/** Per-part overhead inside a compound (u16 length) and the compound header (type + count). */
const COMPOUND_PART_OVERHEAD = 2;
const COMPOUND_HEADER_OVERHEAD = 2;

export interface PacketNetOptions {
  keyring: Keyring | null;
  counters: GossipCounters;
  /** Encoded broadcasts to piggyback, each costing `overhead` more, `limit` bytes in all (memberlist's getBroadcasts). */
  broadcasts: (overhead: number, limit: number) => Uint8Array[];
  logger: Logger;
  send: (buf: Uint8Array, to: Endpoint) => boolean;
  /** Handles one valid inbound message. Exceptions are caught and counted as drops ("handler"). */
  onMessage: (msg: Message, from: Endpoint) => void;
}

/** Why a decoded message cannot be acted upon, or null if it is fine. */
export function validateMessage(msg: Message): string | null {
  switch (msg.type) {
    case "alive": {
      const a = msg.body;
      if (a.node === "") return "alive without node name";
      if (bytesToIp(a.addr) === null) return `alive with a ${a.addr.length}-byte address`;
      if (a.port === 0) return "alive with port 0";
      if (a.vsn[0] === 0 || a.vsn[1] === 0 || a.vsn[0] > a.vsn[1]) return "alive with invalid protocol versions";
      return null;
    }
    case "suspect":
    case "dead":
      return msg.body.node === "" ? `${msg.type} without node name` : null;
    case "indirectPing":
      return bytesToIp(msg.body.target) === null ? "indirect ping with a bad target address" : null;
    case "ping":
    case "ackResp":
    case "nackResp":
    case "user":
      return null;
    default:
      return `${msg.type} is not valid in a packet`;
  }
}

export class PacketNet {
  constructor(private readonly opts: PacketNetOptions) {}

  /** Bytes available for messages in one packet after crypto overhead. */
  get packetBudget(): number {
    return UDP_PACKET_SIZE - (this.opts.keyring ? ENCRYPT_OVERHEAD : 0);
  }

  // ---------------------------------------------------------------- inbound

  handlePacket(buf: Uint8Array, from: Endpoint): void {
    const c = this.opts.counters;
    c.packetsIn++;
    c.bytesIn += buf.length;
    let msgs: Message[];
    let partErrors = 0;
    try {
      msgs = decodePacket(buf, {
        keyring: this.opts.keyring ?? undefined,
        onPartError: (err) => {
          partErrors++;
          this.drop(err.reason, err, from);
        },
      });
    } catch (err) {
      const w = asWireError(err);
      this.drop(this.classify(w, buf), w, from);
      return;
    }
    // e.g. a compound of zero parts: nothing to do, but it must not vanish uncounted
    if (msgs.length === 0 && partErrors === 0) this.drop("empty", "packet without messages", from);
    for (const msg of msgs) this.dispatch(msg, from);
  }

  /** Runs one message through validation and the handler; never throws. */
  dispatch(msg: Message, from: Endpoint): void {
    const invalid = validateMessage(msg);
    if (invalid) {
      this.drop("invalid", invalid, from);
      return;
    }
    this.opts.counters.msgIn(msg.type);
    try {
      this.opts.onMessage(msg, from);
    } catch (err) {
      this.drop("handler", err, from);
    }
  }

  drop(reason: GossipDropReason, why: unknown, from?: Endpoint): void {
    this.opts.counters.drop(reason);
    if (this.opts.logger.enabled("debug")) {
      this.opts.logger.debug("dropped packet", { reason, why: why instanceof Error ? why.message : String(why), from: from ? formatHostPort(from.address, from.port) : undefined });
    }
  }

  /** With a keyring, a packet that fails decryption but starts like a plaintext message is "plaintext". */
  private classify(err: WireError, buf: Uint8Array): GossipDropReason {
    if (this.opts.keyring && err.reason === "decrypt" && buf.length > 0 && buf[0] >= MessageType.ackResp && buf[0] <= MessageType.err) {
      return "plaintext";
    }
    return err.reason;
  }

  // ---------------------------------------------------------------- outbound

  /** Encodes a message (for the broadcast queue or a compound). */
  encode(msg: Message): Uint8Array {
    return encodeMessage(msg);
  }

  /**
   * Sends one message to `to`, piggybacking queued broadcasts in the space left in the packet
   * (as memberlist's sendMsg does for pings, acks and the like).
   */
  sendMsg(to: Endpoint, msg: Message): boolean {
    const encoded = this.encodeCounted(msg);
    if (!encoded) return false;
    const avail = this.packetBudget - encoded.length - COMPOUND_HEADER_OVERHEAD;
    const extra = avail > 0 ? this.opts.broadcasts(COMPOUND_PART_OVERHEAD, avail) : [];
    for (const e of extra) this.countOut(e);
    if (extra.length === 0) return this.sendRaw(to, encoded);
    return this.sendParts(to, [encoded, ...extra]);
  }

  /** Sends several messages together as one compound (e.g. ping + suspect), no piggyback. */
  sendMsgs(to: Endpoint, msgs: Message[]): boolean {
    const parts: Uint8Array[] = [];
    for (const m of msgs) {
      const e = this.encodeCounted(m);
      if (e) parts.push(e);
    }
    return this.sendParts(to, parts);
  }

  /**
   * Gossip round to one node: queued broadcasts packed into one packet.
   * Returns false when there was nothing to send.
   */
  gossipTo(to: Endpoint): boolean {
    const parts = this.opts.broadcasts(COMPOUND_PART_OVERHEAD, this.packetBudget - COMPOUND_HEADER_OVERHEAD);
    if (parts.length === 0) return false;
    for (const p of parts) this.countOut(p);
    this.sendParts(to, parts);
    return true;
  }

  /** Parts → one message or compound(s) of ≤127 parts → encrypted datagram(s). */
  sendParts(to: Endpoint, parts: Uint8Array[]): boolean {
    if (parts.length === 0) return false;
    if (parts.length === 1) return this.sendRaw(to, parts[0]);
    let ok = true;
    for (let i = 0; i < parts.length; i += MAX_COMPOUND_PARTS) {
      const chunk = parts.slice(i, i + MAX_COMPOUND_PARTS);
      ok = (chunk.length === 1 ? this.sendRaw(to, chunk[0]) : this.sendRaw(to, encodeCompound(chunk))) && ok;
    }
    return ok;
  }

  /** payload → [encrypt] → datagram. */
  sendRaw(to: Endpoint, payload: Uint8Array): boolean {
    let packet: Uint8Array;
    try {
      packet = encodePacket(payload, { keyring: this.opts.keyring ?? undefined });
    } catch (err) {
      this.opts.logger.warn("cannot encode packet", { to: formatHostPort(to.address, to.port), err });
      return false;
    }
    const c = this.opts.counters;
    c.packetsOut++;
    c.bytesOut += packet.length;
    return this.opts.send(packet, to);
  }

  private encodeCounted(msg: Message): Uint8Array | null {
    try {
      const e = encodeMessage(msg);
      this.opts.counters.msgOut(msg.type);
      return e;
    } catch (err) {
      this.opts.logger.warn("cannot encode message", { type: msg.type, err });
      return null;
    }
  }

  /** Counts a pre-encoded broadcast by its type byte. */
  private countOut(encoded: Uint8Array): void {
    this.opts.counters.msgOut(typeName(encoded[0]));
  }
}

const NAMES = new Map<number, string>(Object.entries(MessageType).map(([k, v]) => [v, k]));

function typeName(b: number | undefined): string {
  return (b !== undefined && NAMES.get(b)) || "unknown";
}


// ---------------------------------------------------------------- streams

/**
 * Reads one stream message (encrypted or not, compressed or not). Returns null when the peer closed
 * without sending anything. Throws WireError for malformed input and StreamError for I/O failures.
 */
export async function readStreamMessage(conn: Stream, keyring: Keyring | null, onBytes?: (n: number) => void): Promise<Message | null> {
  const dec = new StreamDecoder({ keyring: keyring ?? undefined });
  for (;;) {
    const chunk = await conn.read();
    if (chunk === null) {
      dec.end();
      return null;
    }
    onBytes?.(chunk.length);
    const msg = dec.push(chunk);
    if (msg) return msg;
  }
}

/** Writes one stream message (always compressed, like Go; encrypted with a keyring). */
export function writeStreamMessage(conn: Stream, msg: Message, keyring: Keyring | null): number {
  const bytes = encodeStreamMessage(msg, { keyring: keyring ?? undefined });
  conn.write(bytes);
  return bytes.length;
}
