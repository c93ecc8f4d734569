// What a ClusterClub node publishes in its gossip metadata: a versioned msgpack map
// {"P": pool table, "h": healthy backends of the default pool, "p": proxy port, "v": 1}.
//
// memberlist caps metadata at 512 bytes, too little for 64 pool names of 32 bytes, so a pool is named
// by a 32-bit FNV-1a hash of its name: "P" is raw bytes, per pool 4 bytes of hash (big-endian) and its
// healthy count as a LEB128 varint; 64 pools take at most 64 × 7 = 448 bytes. Every node that routes
// to a pool knows its name (from its own [[pools]] or [[routes]]) and so its hash; a node with two pool
// names of the same hash refuses the config. Nodes of the first release ignore "P" (an unknown key) and
// still see "h", so mixed clusters keep balancing the default pool.
// Peers' metadata is validated before routing uses it: anything odd means "0 backends", never a crash.

import { MsgpackReader, MsgpackWriter, WireError } from "../cluster/index.ts";
import { type Cursor, readVarint, VarintError, writeVarint } from "../wire/varint.ts";

export { poolId } from "../config/pools.ts";

const META_VERSION = 1;
/** More healthy backends than any one node could sensibly have: treated as hostile. */
const MAX_HEALTHY = 100_000;
/** Entries a peer may list; more is not something our encoder writes. */
const MAX_POOL_ENTRIES = 128;
/** Varint bytes of one count: 3 carry 21 bits, well above MAX_HEALTHY. */
const COUNT_MAX_BYTES = 3;

export interface NodeMeta {
  /** Healthy backends of the default pool. */
  healthy: number;
  proxyPort: number;
  /** Healthy backends per named pool (pool id → count); pools at 0 may be left out. */
  pools: ReadonlyMap<number, number>;
}

export type MetaResult = { ok: true; meta: NodeMeta } | { ok: false; reason: string };

const NO_POOLS: ReadonlyMap<number, number> = new Map();

export function encodeNodeMeta(m: NodeMeta): Uint8Array {
  const w = new MsgpackWriter(64);
  const table = m.pools.size > 0 ? encodePoolTable(m.pools) : null;
  // Keys sorted bytewise, as Go would write a struct: P, h, p, v.
  w.mapHeader(table ? 4 : 3);
  if (table) {
    w.str("P");
    w.raw(table);
  }
  w.str("h");
  w.uint(m.healthy);
  w.str("p");
  w.uint(m.proxyPort);
  w.str("v");
  w.uint(META_VERSION);
  return w.finish();
}

function encodePoolTable(pools: ReadonlyMap<number, number>): Uint8Array {
  const out = new Uint8Array(pools.size * 9);
  let n = 0;
  for (const [id, count] of pools) {
    out[n++] = id >>> 24;
    out[n++] = (id >>> 16) & 0xff;
    out[n++] = (id >>> 8) & 0xff;
    out[n++] = id & 0xff;
    n = writeVarint(out, n, count);
  }
  return out.subarray(0, n);
}

function decodePoolTable(b: Uint8Array): Map<number, number> | string {
  const out = new Map<number, number>();
  const at: Cursor = { pos: 0 };
  while (at.pos < b.length) {
    const i = at.pos;
    if (out.size >= MAX_POOL_ENTRIES) return `more than ${MAX_POOL_ENTRIES} pools`;
    if (i + 5 > b.length) return "pool table truncated";
    const id = ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
    at.pos += 4;
    let count: number;
    try {
      count = readVarint(b, at, COUNT_MAX_BYTES);
    } catch (e) {
      if (e instanceof VarintError) return e.fault === "truncated" ? "pool table truncated" : `pool count ${e.fault}`;
      throw e;
    }
    if (count > MAX_HEALTHY) return `pool healthy count ${count} out of range 0–${MAX_HEALTHY}`;
    if (out.has(id)) return "pool listed twice";
    out.set(id, count);
  }
  return out;
}

export function decodeNodeMeta(buf: Uint8Array): MetaResult {
  if (buf.length === 0) return { ok: false, reason: "empty metadata (not a ClusterClub node?)" };
  let healthy: unknown;
  let port: unknown;
  let version: unknown;
  let pools: Map<number, number> | string | undefined;
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
      } else if (key === "P") {
        pools = decodePoolTable(r.readBytes());
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
  if (typeof pools === "string") return { ok: false, reason: pools };
  return { ok: true, meta: { healthy, proxyPort: port, pools: pools ?? NO_POOLS } };
}
