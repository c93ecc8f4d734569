// Request head serialisation. The caller's headers are already prepared (hop-by-hop stripped); here we
// only decide the body framing and keep framing fields we do not own out of the head. One writer per
// client: the `forEach` visitor is bound once, so building a head allocates only the string itself.

import { formatHostPort } from "../../netutil.ts";

/** How the request body is framed on the wire. */
export const BODY_NONE = 0;
export const BODY_LENGTH = 1;
export const BODY_CHUNKED = 2;
export type BodyMode = typeof BODY_NONE | typeof BODY_LENGTH | typeof BODY_CHUNKED;

/** Methods whose requests carry a body by definition; without one they get `content-length: 0` (as fetch does). */
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

/** Request fields already serialised for the head: what a caller that prepared them itself passes. */
export interface OutgoingFields {
  /** "name: value\r\n" lines of every field to send, without Content-Length, Transfer-Encoding and Connection. */
  readonly lines: string;
  /** Whether `lines` holds a Host field (otherwise the target's is added). */
  readonly hasHost: boolean;
  /** The declared Content-Length, verbatim, or null. */
  readonly contentLength: string | null;
}

export class HeadWriter implements OutgoingFields {
  lines = "";
  hasHost = false;
  contentLength: string | null = null;
  private readonly visit: (value: string, name: string) => void;
  /** Framing chosen by the last `frame`. */
  mode: BodyMode = BODY_NONE;
  /** Declared body length for BODY_LENGTH, else -1. */
  bodyLength = -1;

  constructor() {
    this.visit = (value, name) => {
      // Names from Headers are lower-case already.
      switch (name.length) {
        case 4:
          if (name === "host") this.hasHost = true;
          break;
        case 10:
          if (name === "connection") return; // HTTP/1.1 default (keep-alive) is what we want
          break;
        case 14:
          if (name === "content-length") {
            this.contentLength = value;
            return; // re-emitted by frame() once the framing is decided
          }
          break;
        case 17:
          if (name === "transfer-encoding") return; // we choose the framing
          break;
      }
      this.lines += name + ": " + value + "\r\n";
    };
  }

  /** Serialises `headers` (already prepared for the upstream) into this writer's fields; returns itself. */
  fieldsOf(headers: Headers): OutgoingFields {
    this.lines = "";
    this.hasHost = false;
    this.contentLength = null;
    headers.forEach(this.visit);
    return this;
  }

  /**
   * Builds the head text (Latin-1: header values are byte strings) and sets `mode`/`bodyLength`.
   * `hostHeader` is used when the fields have no Host. Returns null when a declared Content-Length is invalid.
   */
  frame(method: string, pathAndQuery: string, f: OutgoingFields, hostHeader: string, hasBody: boolean): string | null {
    let text = method + " " + pathAndQuery + " HTTP/1.1\r\n" + f.lines;
    if (f === this) this.lines = "";
    if (!f.hasHost) text += "host: " + hostHeader + "\r\n";
    if (!hasBody) {
      // A body the caller does not pass is not sent, so a declared length would make the server wait.
      this.mode = BODY_NONE;
      this.bodyLength = -1;
      if (BODY_METHODS.has(method)) text += "content-length: 0\r\n";
    } else if (f.contentLength !== null) {
      const n = parseContentLength(f.contentLength);
      if (n < 0) return null;
      this.mode = BODY_LENGTH;
      this.bodyLength = n;
      text += "content-length: " + f.contentLength + "\r\n";
    } else {
      this.mode = BODY_CHUNKED;
      this.bodyLength = -1;
      text += "transfer-encoding: chunked\r\n";
    }
    return text + "\r\n";
  }
}

/** Host header value for a target (IPv6 literals in brackets). */
export function hostHeaderFor(host: string, port: number): string {
  // Port 80 is the default for http and is left out, as clients do.
  return port === 80 ? formatHostPort(host, port).slice(0, -3) : formatHostPort(host, port);
}

/**
 * A Content-Length this client can send: 1–15 ASCII digits (leading zeros allowed), so the value is an
 * exact integer; -1 otherwise. Admission applies the same rule, so nothing admitted fails to be written.
 */
export function parseContentLength(v: string): number {
  if (v.length === 0 || v.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const d = v.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}
