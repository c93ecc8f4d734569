// What a ClusterClub node publishes in its gossip metadata: a versioned msgpack map
// {"v": 1, "h": healthy backend count, "p": proxy port}. A handful of bytes, far below memberlist's 512.
// Peers' metadata is validated before routing uses it: anything odd means "0 backends", never a crash.

import { MsgpackReader, MsgpackWriter, WireError } from "../cluster/index.ts";

const META_VERSION = 1;
/** More healthy backends than any one node could sensibly have: treated as hostile. */
const MAX_HEALTHY = 100_000;

export interface NodeMeta {
  healthy: number;
  proxyPort: number;
}

export type MetaResult = { ok: true; meta: NodeMeta } | { ok: false; reason: string };

export function encodeNodeMeta(m: NodeMeta): Uint8Array {
  const w = new MsgpackWriter(32);
  // Keys sorted bytewise, as Go would write a struct: h, p, v.
  w.mapHeader(3);
  w.str("h");
  w.uint(m.healthy);
  w.str("p");
  w.uint(m.proxyPort);
  w.str("v");
  w.uint(META_VERSION);
  return w.finish();
}

export function decodeNodeMeta(buf: Uint8Array): MetaResult {
  if (buf.length === 0) return { ok: false, reason: "empty metadata (not a ClusterClub node?)" };
  let healthy: unknown;
  let port: unknown;
  let version: unknown;
  try {
    const r = new MsgpackReader(buf);
    const n = r.readMapHeader();
    for (let i = 0; i < n; i++) {
      const key = r.readStr();
      const t = r.peek();
      const isInt = t <= 0x7f || t >= 0xe0 || (t >= 0xcc && t <= 0xcf) || (t >= 0xd0 && t <= 0xd3);
      if (key === "h" || key === "p" || key === "v") {
        if (!isInt) return { ok: false, reason: `field "${key}" is not an integer` };
        const v = r.readInt();
        if (key === "h") healthy = v;
        else if (key === "p") port = v;
        else version = v;
      } else {
        // Newer versions may add fields; skip what we do not know.
        r.skip();
      }
    }
    if (r.remaining !== 0) return { ok: false, reason: "trailing bytes after metadata" };
  } catch (e) {
    return { ok: false, reason: e instanceof WireError ? e.message : String(e) };
  }
  if (version !== META_VERSION) return { ok: false, reason: `unknown metadata version ${String(version)}` };
  if (typeof healthy !== "number" || healthy < 0 || healthy > MAX_HEALTHY) {
    return { ok: false, reason: `healthy count ${String(healthy)} out of range 0–${MAX_HEALTHY}` };
  }
  if (typeof port !== "number" || port < 1 || port > 65535) return { ok: false, reason: `proxy port ${String(port)} out of range` };
  return { ok: true, meta: { healthy, proxyPort: port } };
}
