// CIDR ranges as operators write them ("10.0.0.0/8", "fd00::/8", or a bare address for one host).
// Every address is held as 16 bytes (IPv4 as ::ffff:a.b.c.d), so an IPv4 range also matches the
// IPv4-mapped form a dual-stack socket reports.

import { isIP } from "node:net";

export interface Cidr {
  /** As written. */
  text: string;
  /** Network address, 16 bytes. */
  bytes: Uint8Array;
  /** Prefix length over the 16-byte form (an IPv4 /8 is /104 here). */
  bits: number;
}

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

function parseV4(text: string, out: Uint8Array, at: number): void {
  const parts = text.split(".");
  for (let i = 0; i < 4; i++) out[at + i] = Number(parts[i]);
}

/** A valid IPv4 or IPv6 address (as `isIP` accepts it) as 16 bytes; undefined if it is not one. */
export function addressBytes(address: string): Uint8Array | undefined {
  // A zone ("fe80::1%eth0") names an interface, not a different address.
  const ip = address.includes("%") ? address.slice(0, address.indexOf("%")) : address;
  const family = isIP(ip);
  const out = new Uint8Array(16);
  if (family === 4) {
    out.set(V4_MAPPED_PREFIX);
    parseV4(ip, out, 12);
    return out;
  }
  if (family !== 6) return undefined;
  let text = ip;
  // An embedded IPv4 tail ("::ffff:1.2.3.4") stands for the last two groups.
  let tail: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.indexOf(".", lastColon) >= 0) {
    tail = new Uint8Array(4);
    parseV4(text.slice(lastColon + 1), tail, 0);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.split("::") as [string, string | undefined];
  const groups = (s: string) => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i]! >> 8;
    out[2 * i + 1] = all[i]! & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

/** Whether the first `bits` bits of `a` and `b` are equal. */
function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rem = bits & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return (a[whole]! & mask) === (b[whole]! & mask);
}

/** Parses "addr/len" or a bare address; returns the range, or a sentence saying what is wrong. */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(addr);
  if (family === 0 || addr.includes("%")) return `"${addr}" is not an IP address; write a range like "10.0.0.0/8" or "fd00::/8"`;
  const max = family === 4 ? 32 : 128;
  let len = max;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) return `prefix length "${lenText}" in "${text}" is not 0–${max}`;
    len = Number(lenText);
  }
  const bytes = addressBytes(addr)!;
  const bits = family === 4 ? 96 + len : len;
  // Host bits set is almost always a typo for a different range; say which one was meant.
  const network = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    network[i] = bytes[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  if (!samePrefix(bytes, network, 128)) {
    return `"${text}" has bits set after the /${len} prefix; write the network address, e.g. "${formatNetwork(network, family)}/${len}"`;
  }
  return { text, bytes: network, bits };
}

function formatNetwork(b: Uint8Array, family: number): string {
  if (family === 4) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}

/** Whether `address` (an IP as a socket reports it) lies in `range`. */
export function cidrContains(range: Cidr, address: string): boolean {
  const b = addressBytes(address);
  return b !== undefined && samePrefix(b, range.bytes, range.bits);
}
