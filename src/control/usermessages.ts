// What ClusterClub sends through the engine's user messages and push/pull user state, multiplexed by
// a leading type byte so several features can share them. A message or state section of a type we do
// not know (a newer ClusterClub, or a Go memberlist application on the same cluster) is counted and
// ignored; ours are bytes a Go peer's delegate gets and may ignore.
//
//   user message:  u8 type | body
//   user state:    sections of  u8 type | u32 length | body

import type { Delegate } from "../cluster/index.ts";

/** The type bytes in use. 0 is never used (an empty or zeroed message says nothing). */
export const USER_MSG = { rateLimit: 0x01 } as const;

/** One feature's share of the user messages and state. */
export interface UserChannel {
  readonly type: number;
  /** Messages for one packet, each starting with `type`, all together at most `room` bytes. */
  broadcasts(room: number): Uint8Array[];
  /** A message of ours, type byte stripped. */
  receive(body: Uint8Array): void;
  /** State for push/pull (without the type byte); empty for none. */
  state(): Uint8Array;
  mergeState(body: Uint8Array): void;
}

const SECTION_HEADER = 5;

export class UserMessages implements Pick<Delegate, "notifyMsg" | "getBroadcasts" | "localState" | "mergeRemoteState"> {
  private readonly channels = new Map<number, UserChannel>();
  /** Messages and state sections of a type nobody here reads, or state that does not parse. */
  ignored = 0;

  add(c: UserChannel): void {
    if (c.type === 0 || this.channels.has(c.type)) throw new Error(`user message type ${c.type} is taken`);
    this.channels.set(c.type, c);
  }

  notifyMsg(msg: Uint8Array): void {
    const c = msg.length > 0 ? this.channels.get(msg[0]!) : undefined;
    if (c) c.receive(msg.subarray(1));
    else this.ignored++;
  }

  getBroadcasts(overhead: number, limit: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const c of this.channels.values()) {
      if (limit <= overhead) break;
      for (const m of c.broadcasts(limit - overhead)) {
        out.push(m);
        limit -= m.length + overhead;
      }
    }
    return out;
  }

  localState(): Uint8Array {
    const parts: [number, Uint8Array][] = [];
    let size = 0;
    for (const c of this.channels.values()) {
      const s = c.state();
      if (s.length === 0) continue;
      parts.push([c.type, s]);
      size += SECTION_HEADER + s.length;
    }
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    let pos = 0;
    for (const [type, s] of parts) {
      out[pos] = type;
      view.setUint32(pos + 1, s.length);
      out.set(s, pos + SECTION_HEADER);
      pos += SECTION_HEADER + s.length;
    }
    return out;
  }

  mergeRemoteState(state: Uint8Array): void {
    const view = new DataView(state.buffer, state.byteOffset, state.byteLength);
    let pos = 0;
    while (pos < state.length) {
      if (pos + SECTION_HEADER > state.length) return void this.ignored++;
      const len = view.getUint32(pos + 1);
      const end = pos + SECTION_HEADER + len;
      if (end > state.length) return void this.ignored++;
      const c = this.channels.get(state[pos]!);
      if (c) c.mergeState(state.subarray(pos + SECTION_HEADER, end));
      else this.ignored++;
      pos = end;
    }
  }
}
