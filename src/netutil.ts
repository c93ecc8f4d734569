// Small address and error helpers shared by every layer, so each rule is written once:
// host:port text (IPv6 in brackets), IP text ⇄ bytes, and what to log of a caught error.

import { isIP } from "node:net";

/** "host:port"; an IPv6 address (anything with a colon, unless already bracketed) is written [addr]:port. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A caught value's message. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A system error's code ("ECONNREFUSED"), if the value carries a string one. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null || !("code" in err)) return undefined;
  return typeof err.code === "string" ? err.code : undefined;
}

/** The code when there is one, else the message: the short form logs and status pages show. */
export function errorCodeOrMessage(err: unknown): string {
  return errorCode(err) ?? errorMessage(err);
}

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

function parseV4(text: string, out: Uint8Array, at: number): void {
  const parts = text.split(".");
  for (let i = 0; i < 4; i++) out[at + i] = Number(parts[i]);
}

/**
 * An IP address as bytes: 4 for IPv4, 16 for IPv6 (a zone such as %eth0 is ignored); undefined when
 * the text is not an address `isIP` accepts.
 */
export function ipToBytes(address: string): Uint8Array | undefined {
  // A zone names an interface, not a different address.
  const ip = address.includes("%") ? address.slice(0, address.indexOf("%")) : address;
  const family = isIP(ip);
  if (family === 4) {
    const out = new Uint8Array(4);
    parseV4(ip, out, 0);
    return out;
  }
  if (family !== 6) return undefined;
  const out = new Uint8Array(16);
  let text = ip;
  // An embedded IPv4 tail ("::ffff:1.2.3.4") stands for the last two groups.
  const lastColon = text.lastIndexOf(":");
  const v4Tail = text.indexOf(".", lastColon) >= 0;
  if (v4Tail) {
    parseV4(text.slice(lastColon + 1), out, 12);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.split("::") as [string, string | undefined];
  const groups = (s: string) => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const last = v4Tail ? 6 : 8;
  for (let i = 0; i < last; i++) {
    out[2 * i] = all[i]! >> 8;
    out[2 * i + 1] = all[i]! & 0xff;
  }
  return out;
}

/** Like ipToBytes, but always 16 bytes: IPv4 as ::ffff:a.b.c.d, so both families compare alike. */
export function ipToBytes16(address: string): Uint8Array | undefined {
  const b = ipToBytes(address);
  if (!b || b.length === 16) return b;
  const out = new Uint8Array(16);
  out.set(V4_MAPPED_PREFIX);
  out.set(b, 12);
  return out;
}

/** Raw IP bytes → text; an IPv4-mapped IPv6 address prints as plain IPv4. Null if not 4 or 16 bytes. */
export function bytesToIp(b: Uint8Array): string | null {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) return null;
  if (V4_MAPPED_PREFIX.every((v, i) => b[i] === v)) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  // compress the longest run of two or more zero groups
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

/** Bun's idle timers count whole seconds up to 255: the longest whole-second timeout not shorter than `ms`, capped there. */
export function idleTimeoutSeconds(ms: number): number {
  return Math.min(255, Math.ceil(ms / 1000));
}
