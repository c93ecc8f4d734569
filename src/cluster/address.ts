// Addresses: the advertised address, and seed parsing/resolution ("ip:port", "host:port",
// "[v6]:port", bare host). IP text ⇄ wire bytes is in ../netutil.ts.

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
