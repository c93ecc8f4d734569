// The hash policy's key: "ip" (the client's address), "header:<name>" or "cookie:<name>", parsed once
// from the config and read from each request. Behind another member the client's address is the last
// X-Forwarded-For entry that member added (trusted only from a member), so every node hashes the same key.

import { hashString } from "./rendezvous.ts";

export type HashKeySpec = { kind: "ip" } | { kind: "header"; name: string } | { kind: "cookie"; name: string };

/** Parses a hash_key value; a string is the problem. */
export function parseHashKey(v: string): HashKeySpec | string {
  if (v === "ip") return { kind: "ip" };
  const colon = v.indexOf(":");
  const kind = colon < 0 ? v : v.slice(0, colon);
  const name = colon < 0 ? "" : v.slice(colon + 1).trim();
  if ((kind === "header" || kind === "cookie") && name !== "" && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
    return kind === "header" ? { kind, name: name.toLowerCase() } : { kind, name };
  }
  return `"${v}" is not a hash key; write "ip", "header:<name>" or "cookie:<name>"`;
}

/** What the key is read from. */
export interface KeySource {
  /** The client's address as this node sees it. */
  clientIp: string;
  /** The request comes from a member's address: its X-Forwarded-For is trusted. */
  trusted: boolean;
  xff: string | null;
  headers: Headers;
}

/** The request's key hashed, or undefined when it has none. */
export function requestKey(spec: HashKeySpec, s: KeySource): number | undefined {
  let v: string | null;
  switch (spec.kind) {
    case "ip":
      v = s.trusted && s.xff !== null ? lastEntry(s.xff) : s.clientIp;
      break;
    case "header":
      v = s.headers.get(spec.name);
      break;
    case "cookie":
      v = cookieValue(s.headers.get("cookie"), spec.name);
      break;
  }
  return v === null || v === "" ? undefined : hashString(v);
}

function lastEntry(list: string): string {
  const comma = list.lastIndexOf(",");
  return (comma < 0 ? list : list.slice(comma + 1)).trim();
}

/** The value of cookie `name` in a Cookie header, or null. */
export function cookieValue(header: string | null, name: string): string | null {
  if (header === null) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
