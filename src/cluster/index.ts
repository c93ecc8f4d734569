// The gossip engine's whole public surface: a memberlist-compatible node (Memberlist), the seams an
// application plugs into (Delegate, EventDelegate) and the network it runs on (Transport, with the Bun
// socket implementation NetTransport). Nothing outside src/cluster imports another file of it.

export { type Member, type MemberState, Memberlist, MemberlistError, type MemberlistInit, type MemberlistTimings, LAN_DEFAULTS, META_MAX_SIZE } from "./memberlist.ts";
export type { Delegate, EventDelegate } from "./delegate.ts";
export { type Announcement, MapMemberStore, type MemberStore, type NodeList, type NodeState } from "./members.ts";
export { type Endpoint, Inbox, type Stream, StreamError, type Transport, type TransportHandler } from "./transport.ts";
export { NetTransport, type NetTransportOptions, TransportError } from "./nettransport.ts";
export { JoinError } from "./join.ts";
export type { GossipMetrics } from "./metrics.ts";
export { keygen } from "./security.ts";
// go-msgpack-compatible encoding, for application bytes that Go peers should be able to read too.
export { MsgpackReader, MsgpackWriter } from "./msgpack.ts";
export { WireError } from "./messages.ts";
