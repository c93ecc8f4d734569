// Builds a routing snapshot from the control plane's state: local health per pool, the routes and
// the member table. Pure, so the rules (who gets traffic for which pool, whose requests stay local)
// are tested without sockets.

import type { Member } from "../cluster/index.ts";
import { DEFAULT_POOL, type RouteConfig } from "../config/schema.ts";
import { decodeNodeMeta, type NodeMeta, poolId } from "../control/nodemeta.ts";
import { formatHostPort } from "../netutil.ts";
import { type BackendHealth, isServing } from "../health/checker.ts";
import { parseHashKey } from "./balance/key.ts";
import type { BalancePolicy } from "./balance/policy.ts";
import { fallbackPool } from "./routes.ts";
import type { PeerNode, PoolSnapshot, RoutingSnapshot } from "./snapshot.ts";

export interface LocalPool {
  name: string;
  backends: readonly Readonly<BackendHealth>[];
  /** How its backends are chosen (default round_robin) and, for hash, on what (as written in the config). */
  balance?: BalancePolicy;
  hashKey?: string;
}

export interface SnapshotInputs {
  version: number;
  nodeName: string;
  /** This node's pools with their backends' health (the default pool, when configured, among them). */
  pools: readonly LocalPool[];
  routes: readonly RouteConfig[];
  /** The member table (self included), or empty when there is no cluster. */
  members: readonly Member[];
  /** Called for a peer whose metadata cannot be used (it then counts as 0 backends). */
  onInvalidMeta?: (member: Member, reason: string) => void;
  /** Scheme for forwarding to peers: "https" when cluster.tls is on. */
  peerScheme?: "http" | "https";
}

/** A peer's healthy backend weight for a pool, from its metadata. */
export function peerCount(meta: NodeMeta, pool: string): number {
  return pool === DEFAULT_POOL ? meta.healthy : (meta.pools.get(poolId(pool)) ?? 0);
}

export function buildSnapshot(i: SnapshotInputs): RoutingSnapshot {
  const peers: PeerNode[] = [];
  const metas: NodeMeta[] = [];
  const memberAddresses = new Set<string>();
  const memberNames: string[] = [];
  const aliveAddresses: string[] = [];
  for (const m of i.members) {
    memberNames.push(m.name);
    if (m.name === i.nodeName) continue;
    // Alive, suspect, dead-not-yet-reaped and left members all keep their address in the set:
    // a request of theirs still in flight must not be forwarded again.
    memberAddresses.add(m.address);
    // Only alive members get new traffic.
    if (m.state !== "alive") continue;
    aliveAddresses.push(m.address);
    const meta = decodeNodeMeta(m.meta);
    if (!meta.ok) {
      i.onInvalidMeta?.(m, meta.reason);
      continue;
    }
    peers.push({
      name: m.name,
      address: m.address,
      host: m.address,
      port: meta.meta.proxyPort,
      proxyPort: meta.meta.proxyPort,
      origin: `${i.peerScheme ?? "http"}://${formatHostPort(m.address, meta.meta.proxyPort)}`,
    });
    metas.push(meta.meta);
  }
  // Our pools, then the ones only our routes name (other nodes serve those).
  const names = [...i.pools.map((p) => p.name)];
  for (const r of i.routes) if (!names.includes(r.pool)) names.push(r.pool);
  const own = new Map(i.pools.map((p) => [p.name, p]));
  const pools: PoolSnapshot[] = names.map((name) => {
    const local = own.get(name);
    const balance = local?.balance ?? "round_robin";
    const key = balance === "hash" && local?.hashKey !== undefined ? parseHashKey(local.hashKey) : null;
    return {
      name,
      backends: (local?.backends ?? []).map((b, index) => ({
        index,
        address: b.address,
        host: b.host,
        port: b.port,
        origin: `http://${formatHostPort(b.host, b.port)}`,
        healthy: isServing(b),
        weight: b.weight,
      })),
      peers: metas.flatMap((meta, peer) => {
        const weight = peerCount(meta, name);
        return weight > 0 ? [{ peer, weight }] : [];
      }),
      balance,
      hashKey: key === null || typeof key === "string" ? null : key,
      hashKeyText: key === null || typeof key === "string" ? null : (local?.hashKey ?? null),
    };
  });
  return {
    version: i.version,
    nodeName: i.nodeName,
    pools,
    routes: [...i.routes],
    fallbackPool: fallbackPool(names.filter((n) => own.has(n))),
    peers,
    memberAddresses: [...memberAddresses],
    memberNames,
    aliveAddresses,
  };
}
