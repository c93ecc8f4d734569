// The client's request head, read in one pass over its fields: what admission, loop prevention and the
// upstream need, and the upstream's header lines with the forwarding rules applied (hop-by-hop fields
// out, X-Forwarded-* and Via in, internal fields only from members). The pooled client writes those
// lines as they are; fetch and WebSocket upstreams get the same rules applied to a Headers
// (prepareRequestHeaders), so both paths forward the same fields.

import { INTERNAL_PREFIX, POOL_HEADER } from "./headers.ts";
import type { ProtocolIndex } from "./protocol.ts";
import type { OutgoingFields } from "./upstream/client.ts";
import { connectionListed, isHopByHop } from "./upstream/hopbyhop.ts";

export interface ForwardingInfo {
  clientIp: string;
  proto: string;
  /** Our Via token for the client's protocol, e.g. "1.1 node-a", "2 node-a". */
  via: string;
  /** The HTTP version the client spoke (the upstream always gets HTTP/1.1). */
  protocol: ProtocolIndex;
  /** The source is a member: keep its X-Forwarded-Proto/Host and internal fields. */
  trusted: boolean;
}

export class ClientHead implements OutgoingFields {
  host: string | null = null;
  contentLength: string | null = null;
  transferEncoding: string | null = null;
  via: string | null = null;
  upgrade: string | null = null;
  connection: string | null = null;
  xff: string | null = null;
  xfp: string | null = null;
  xfh: string | null = null;
  /** The pool a forwarding member routed this request to (kept apart: never passed on as sent). */
  pool: string | null = null;
  /** End-to-end fields other than the ones above, as "name: value\r\n" lines. */
  plain = "";
  /** Internal fields, kept apart: only a member's request may carry them on. */
  internal = "";
  /** Set by `forUpstream`. */
  lines = "";

  get hasHost(): boolean {
    return this.host !== null;
  }

  /** Reads every field of `h` once (twice in the rare case that Connection names more fields to drop). */
  static scan(h: Headers): ClientHead {
    let head = new ClientHead();
    scanning = head;
    h.forEach(visit);
    const listed = head.connection === null ? null : connectionListed(head.connection);
    if (listed !== null) {
      head = new ClientHead();
      scanning = head;
      dropping = listed;
      h.forEach(visit);
      dropping = null;
    }
    scanning = null;
    return head;
  }

  /** The upstream's lines for this request; `this` is then the OutgoingFields the pooled client writes. */
  forUpstream(info: ForwardingInfo): this {
    // Host first, as RFC 9110 §7.2 asks of a client (the next node also reads it that way: protocol.ts).
    let lines = this.host !== null ? "host: " + this.host + "\r\n" + this.plain : this.plain;
    if (info.trusted) lines += this.internal;
    lines += "x-forwarded-for: " + (this.xff ? this.xff + ", " + info.clientIp : info.clientIp) + "\r\n";
    const proto = info.trusted && this.xfp !== null ? this.xfp : info.proto;
    lines += "x-forwarded-proto: " + proto + "\r\n";
    const fwdHost = info.trusted && this.xfh !== null ? this.xfh : this.host;
    if (fwdHost !== null) lines += "x-forwarded-host: " + fwdHost + "\r\n";
    lines += "via: " + (this.via ? this.via + ", " + info.via : info.via) + "\r\n";
    this.lines = lines;
    return this;
  }
}

/** The head being scanned: forEach is synchronous, so one module-level visitor serves every request. */
let scanning: ClientHead | null = null;
/** Fields the client's Connection names (hop-by-hop for this request); never the framing we decide. */
let dropping: Set<string> | null = null;

function visit(value: string, name: string): void {
  const s = scanning!;
  if (dropping !== null && dropping.has(name) && name !== "content-length") return;
  // Names from Headers are lower-case already; most fields are none of these, found by length first.
  switch (name.length) {
    case 3:
      if (name === "via") return void (s.via = value);
      break;
    case 4:
      if (name === "host") return void (s.host = value);
      break;
    case 7:
      if (name === "upgrade") return void (s.upgrade = value);
      break;
    case 10:
      if (name === "connection") return void (s.connection = value);
      break;
    case 14:
      if (name === "content-length") return void (s.contentLength = value);
      break;
    case 15:
      if (name === "x-forwarded-for") return void (s.xff = value);
      break;
    case 16:
      if (name === "x-forwarded-host") return void (s.xfh = value);
      break;
    case 17:
      if (name === "transfer-encoding") return void (s.transferEncoding = value);
      if (name === "x-forwarded-proto") return void (s.xfp = value);
      break;
    case 18:
      if (name === POOL_HEADER) return void (s.pool = value);
      break;
  }
  if (isHopByHop(name)) return;
  appendLine(s, name, value);
}

function appendLine(s: ClientHead, name: string, value: string): void {
  if (name.startsWith(INTERNAL_PREFIX)) s.internal += name + ": " + value + "\r\n";
  else s.plain += name + ": " + value + "\r\n";
}
