// The memberlist message structs, as TypeScript values. Field names map 1:1 to the Go
// struct fields (SeqNo → seqNo …); the codec (codec.ts) owns the byte form.
// See shared/docs/memberlist-wire.md §2–3.

export const MessageType = {
  ping: 0,
  indirectPing: 1,
  ackResp: 2,
  suspect: 3,
  alive: 4,
  dead: 5,
  pushPull: 6,
  compound: 7,
  user: 8,
  compress: 9,
  encrypt: 10,
  nackResp: 11,
  hasCrc: 12,
  err: 13,
  hasLabel: 244,
} as const;

/** IP addresses travel as raw bytes: 4 (IPv4) or 16 (IPv6 / IPv4-mapped). */
export type IpBytes = Uint8Array;

export interface Ping {
  seqNo: number;
  /** Target node name; empty means "whoever you are". */
  node: string;
  sourceAddr?: IpBytes;
  sourcePort?: number;
  sourceNode?: string;
}

export interface IndirectPingReq {
  seqNo: number;
  target: IpBytes;
  port: number;
  node: string;
  nack: boolean;
  sourceAddr?: IpBytes;
  sourcePort?: number;
  sourceNode?: string;
}

export interface AckResp {
  seqNo: number;
  payload: Uint8Array | null;
}

export interface NackResp {
  seqNo: number;
}

export interface Suspect {
  incarnation: number;
  node: string;
  from: string;
}

export type Dead = Suspect;

/** Protocol min/max/current, delegate min/max/current. Always 6 bytes on the wire. */
export type Vsn = [number, number, number, number, number, number];

export interface Alive {
  incarnation: number;
  node: string;
  addr: IpBytes;
  port: number;
  meta: Uint8Array;
  vsn: Vsn;
}

export const NodeStateCode = { alive: 0, suspect: 1, dead: 2, left: 3 } as const;

export interface PushPullHeader {
  nodes: number;
  userStateLen: number;
  join: boolean;
}

export interface PushNodeState {
  name: string;
  addr: IpBytes;
  port: number;
  meta: Uint8Array;
  incarnation: number;
  /** 0 alive, 1 suspect, 2 dead, 3 left (NodeStateCode). */
  state: number;
  vsn: Vsn;
}

export interface PushPull {
  join: boolean;
  states: PushNodeState[];
  userState: Uint8Array;
}

export interface ErrResp {
  error: string;
}

/** A decoded, dispatchable message (compound, compress, crc, encrypt and label are unwrapped by the codec). */
export type Message =
  | { type: "ping"; body: Ping }
  | { type: "indirectPing"; body: IndirectPingReq }
  | { type: "ackResp"; body: AckResp }
  | { type: "nackResp"; body: NackResp }
  | { type: "suspect"; body: Suspect }
  | { type: "alive"; body: Alive }
  | { type: "dead"; body: Dead }
  | { type: "pushPull"; body: PushPull }
  | { type: "user"; body: Uint8Array }
  | { type: "err"; body: ErrResp };

/** What we advertise: protocol 1..5, current 2; delegate 0/0/0 — as Go 0.2.2 does. */
export const OUR_VSN: Vsn = [1, 5, 2, 0, 0, 0];

/** Why a packet was dropped; used as a metrics label. */
export type DropReason =
  | "decrypt"
  | "plaintext"
  | "truncated"
  | "crc"
  | "lzw"
  | "msgpack"
  | "unknown_type"
  | "empty"
  | "too_large"
  | "label"
  | "invalid";

export class WireError extends Error {
  constructor(
    readonly reason: DropReason,
    message: string,
  ) {
    super(message);
    this.name = "WireError";
  }
}
