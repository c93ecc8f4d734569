// "host:port" as operators write it: IPv4, [IPv6] or a DNS name, then a port 1–65535.
// (Writing one is formatHostPort in ../netutil.ts.)

import { isIP } from "node:net";

export interface HostPort {
  host: string;
  port: number;
}

const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?)(\.[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?)*\.?$/;

/** Returns the parsed value, or a sentence saying what is wrong. */
export function parseHostPort(text: string): HostPort | string {
  let host: string;
  let portText: string;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0 || text[end + 1] !== ":") return `"${text}" is not host:port (IPv6 is written [addr]:port)`;
    host = text.slice(1, end);
    portText = text.slice(end + 2);
    if (isIP(host) !== 6) return `"${host}" is not an IPv6 address`;
  } else {
    const colon = text.lastIndexOf(":");
    if (colon <= 0) return `"${text}" is not host:port`;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(":")) return `"${text}" is ambiguous: write an IPv6 address as [addr]:port`;
    if (!isIP(host) && !HOSTNAME.test(host)) return `"${host}" is neither an IP address nor a hostname`;
  }
  if (!/^\d{1,5}$/.test(portText)) return `port "${portText}" in "${text}" is not a number`;
  const port = Number(portText);
  if (port < 1 || port > 65535) return `port ${port} in "${text}" is out of range 1–65535`;
  return { host, port };
}
