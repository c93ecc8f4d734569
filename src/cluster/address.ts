// Addresses: IP text ⇄ the raw bytes memberlist puts on the wire, the advertised address,
// and seed parsing/resolution ("ip:port", "host:port", "[v6]:port", bare host).

import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { lookup } from "node:dns/promises";

export class AddressError extends Error {
  constructor(
    message: string,
    readonly input: string,
  ) {
    super(`${message}: ${JSON.stringify(input)}`);
    this.name = "AddressError";
  }
}

/** "10.0.0.1" → 4 bytes, "fe80::1" → 16 bytes. Throws AddressError for anything else. */
export function ipToBytes(ip: string): Uint8Array {
  const family = isIP(ip);
  if (family === 4) return Uint8Array.from(ip.split(".").map(Number));
  if (family === 6) return ipv6ToBytes(ip);
  throw new AddressError("not an IP address", ip);
}

function ipv6ToBytes(ip: string): Uint8Array {
  let s = ip;
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  const out = new Uint8Array(16);
  // an embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups
  const lastColon = s.lastIndexOf(":");
  const tail = s.slice(lastColon + 1);
  let v4: number[] | null = null;
  if (tail.includes(".")) {
    v4 = tail.split(".").map(Number);
    s = s.slice(0, lastColon + 1) + "0:0";
  }
  const [head, rest] = s.split("::") as [string, string | undefined];
  const hs = head ? head.split(":") : [];
  const rs = rest !== undefined && rest !== "" ? rest.split(":") : [];
  const groups = rest === undefined ? hs : [...hs, ...new Array<string>(8 - hs.length - rs.length).fill("0"), ...rs];
  for (let i = 0; i < 8; i++) {
    const g = parseInt(groups[i] ?? "0", 16);
    out[i * 2] = (g >> 8) & 0xff;
    out[i * 2 + 1] = g & 0xff;
  }
  if (v4) out.set(v4, 12);
  return out;
}

const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** Raw IP bytes → text; an IPv4-mapped IPv6 address prints as plain IPv4. Null if not 4/16 bytes. */
export function bytesToIp(b: Uint8Array): string | null {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) return null;
  if (MAPPED_PREFIX.every((v, i) => b[i] === v)) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  // compress the longest run of zero groups
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

function isWildcard(ip: string): boolean {
  return ip === "" || ip === "0.0.0.0" || ip === "::" || ip === "[::]";
}

/**
 * The address other nodes should use for us: the explicit option, else a specific bind address,
 * else the first non-loopback interface address (IPv4 preferred), else 127.0.0.1. Never throws
 * for a missing interface; throws AddressError only for an explicit option that is not an IP.
 */
export function chooseAdvertiseAddress(bindAddress: string, advertiseAddress?: string): string {
  if (advertiseAddress) {
    if (!isIP(advertiseAddress)) throw new AddressError("advertiseAddress must be an IP address", advertiseAddress);
    return advertiseAddress;
  }
  if (!isWildcard(bindAddress) && isIP(bindAddress)) return bindAddress;
  let ifaces: ReturnType<typeof networkInterfaces>;
  try {
    ifaces = networkInterfaces();
  } catch {
    return "127.0.0.1";
  }
  let v6: string | undefined;
  for (const list of Object.values(ifaces)) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      if (a.family === "IPv4") return a.address;
      if (!v6 && a.family === "IPv6" && !a.address.toLowerCase().startsWith("fe80")) v6 = a.address;
    }
  }
  return v6 ?? "127.0.0.1";
}

export interface SeedAddress {
  host: string;
  port: number;
}

/** Parses "host:port", "[v6]:port", "v6", or a bare "host" (defaultPort). */
export function parseSeed(seed: string, defaultPort: number): SeedAddress {
  const s = seed.trim();
  if (s === "") throw new AddressError("empty seed address", seed);
  let host: string;
  let portText: string | undefined;
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end < 0) throw new AddressError("unterminated [ in seed", seed);
    host = s.slice(1, end);
    const rest = s.slice(end + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw new AddressError("junk after ] in seed", seed);
      portText = rest.slice(1);
    }
  } else if (isIP(s) === 6) {
    host = s;
  } else {
    const i = s.lastIndexOf(":");
    if (i >= 0) {
      host = s.slice(0, i);
      portText = s.slice(i + 1);
    } else {
      host = s;
    }
  }
  if (host === "") throw new AddressError("seed without host", seed);
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) throw new AddressError("bad port in seed", seed);
    port = Number(portText);
    if (port < 1 || port > 65535) throw new AddressError("port out of range in seed", seed);
  }
  return { host, port };
}

/** Resolves a seed to every address of its host (an IP literal resolves to itself). */
export async function resolveSeed(seed: string, defaultPort: number): Promise<SeedAddress[]> {
  const { host, port } = parseSeed(seed, defaultPort);
  if (isIP(host)) return [{ host, port }];
  const found = await lookup(host, { all: true });
  const seen = new Set<string>();
  const out: SeedAddress[] = [];
  for (const a of found) {
    if (seen.has(a.address)) continue;
    seen.add(a.address);
    out.push({ host: a.address, port });
  }
  return out;
}
