// CIDR ranges as operators write them ("10.0.0.0/8", "fd00::/8", or a bare address for one host).
// Every address is held as 16 bytes (IPv4 as ::ffff:a.b.c.d), so an IPv4 range also matches the
// IPv4-mapped form a dual-stack socket reports.

import { isIP } from "node:net";
import { ipToBytes16 } from "../netutil.ts";

export interface Cidr {
  /** As written. */
  text: string;
  /** Network address, 16 bytes. */
  bytes: Uint8Array;
  /** Prefix length over the 16-byte form (an IPv4 /8 is /104 here). */
  bits: number;
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
  const bytes = ipToBytes16(addr)!;
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
  const b = ipToBytes16(address);
  return b !== undefined && samePrefix(b, range.bytes, range.bits);
}
