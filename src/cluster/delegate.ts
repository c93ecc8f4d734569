// How an application hooks into the engine, after memberlist's delegate.go and event_delegate.go.
// The engine carries the application's bytes (node metadata, user messages, push/pull state) without
// knowing what they mean, and tells it about membership changes.

import type { Member } from "./memberlist.ts";

export interface Delegate {
  /** Our node metadata, at most `limit` bytes; read at start and on every updateNode(). */
  nodeMeta(limit: number): Uint8Array;
  /** A user message arrived (by packet or by stream). Must not block; the bytes are the caller's to keep. */
  notifyMsg(msg: Uint8Array): void;
  /**
   * User messages to piggyback on gossip and probes: each costs `overhead` bytes on top of its length,
   * and all of them together must fit `limit`. Called often; must be cheap.
   */
  getBroadcasts(overhead: number, limit: number): Uint8Array[];
  /** Application state sent with our table in every push/pull (`join`: the exchange is a join). */
  localState(join: boolean): Uint8Array;
  /** A peer's localState, after its table was merged (only when it sent some). */
  mergeRemoteState(state: Uint8Array, join: boolean): void;
}

/** Membership changes. Called synchronously from the engine; exceptions are logged and swallowed. */
export interface EventDelegate {
  /** A node appeared, or came back after being dead or having left. */
  notifyJoin(m: Member): void;
  /** A node was declared dead (state "dead") or left gracefully (state "left"). */
  notifyLeave(m: Member): void;
  /** A node's metadata changed, it became suspect, or it was alive again after a suspicion. */
  notifyUpdate(m: Member): void;
}

const EMPTY = new Uint8Array(0);

/**
 * A complete Delegate from the methods the application gave (class instances included: their methods
 * live on the prototype, so they are bound, not spread). Left-out methods carry nothing.
 */
export function completeDelegate(d: Partial<Delegate> = {}): Delegate {
  return {
    nodeMeta: d.nodeMeta ? d.nodeMeta.bind(d) : () => EMPTY,
    notifyMsg: d.notifyMsg ? d.notifyMsg.bind(d) : () => {},
    getBroadcasts: d.getBroadcasts ? d.getBroadcasts.bind(d) : () => [],
    localState: d.localState ? d.localState.bind(d) : () => EMPTY,
    mergeRemoteState: d.mergeRemoteState ? d.mergeRemoteState.bind(d) : () => {},
  };
}
