// Gossip counters. Plain numbers bumped on the hot path; snapshot() copies them for readers.

import type { DropReason } from "./messages.ts";

/** Why an inbound packet/stream was not processed: wire reasons plus engine-level ones. */
export type GossipDropReason = DropReason | "handler" | "wrong_node" | "stream_type" | "incompatible" | "timeout" | "io";

export interface GossipMetrics {
  /** Messages received, by message type (after unwrapping compound/compress). */
  messagesIn: Record<string, number>;
  /** Messages sent, by message type (each part of a compound counts). */
  messagesOut: Record<string, number>;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  streamsIn: number;
  streamsOut: number;
  /** Packets/streams dropped, by reason. */
  dropped: Record<string, number>;
  probes: number;
  probeFailures: number;
  suspicionsRaised: number;
  refutations: number;
  pushPulls: number;
  pushPullFailures: number;
  healthScore: number;
  members: { alive: number; suspect: number; dead: number; left: number };
}

export class GossipCounters {
  readonly messagesIn: Record<string, number> = {};
  readonly messagesOut: Record<string, number> = {};
  readonly dropped: Record<string, number> = {};
  packetsIn = 0;
  packetsOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  streamsIn = 0;
  streamsOut = 0;
  probes = 0;
  probeFailures = 0;
  suspicionsRaised = 0;
  refutations = 0;
  pushPulls = 0;
  pushPullFailures = 0;

  msgIn(type: string): void {
    this.messagesIn[type] = (this.messagesIn[type] ?? 0) + 1;
  }

  msgOut(type: string): void {
    this.messagesOut[type] = (this.messagesOut[type] ?? 0) + 1;
  }

  drop(reason: GossipDropReason): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
  }

  totalDropped(): number {
    let n = 0;
    for (const k in this.dropped) n += this.dropped[k];
    return n;
  }

  snapshot(healthScore: number, members: GossipMetrics["members"]): GossipMetrics {
    return {
      messagesIn: { ...this.messagesIn },
      messagesOut: { ...this.messagesOut },
      packetsIn: this.packetsIn,
      packetsOut: this.packetsOut,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      streamsIn: this.streamsIn,
      streamsOut: this.streamsOut,
      dropped: { ...this.dropped },
      probes: this.probes,
      probeFailures: this.probeFailures,
      suspicionsRaised: this.suspicionsRaised,
      refutations: this.refutations,
      pushPulls: this.pushPulls,
      pushPullFailures: this.pushPullFailures,
      healthScore,
      members,
    };
  }
}
