// Builds a routing snapshot from the control plane's state: local health and the member table.
// Pure, so the rules (who gets traffic, whose requests stay local) are tested without sockets.

import type { Member } from "../cluster/index.ts";
import { decodeNodeMeta } from "../control/nodemeta.ts";
import { formatHostPort } from "../netutil.ts";
import type { BackendHealth } from "../health/checker.ts";
import type { PeerNode, RoutingSnapshot } from "./snapshot.ts";

export interface SnapshotInputs {
  version: number;
  nodeName: string;
  backends: readonly Readonly<BackendHealth>[];
  /** The member table (self included), or empty when there is no cluster. */
  members: readonly Member[];
  /** Called for a peer whose metadata cannot be used (it then counts as 0 backends). */
  onInvalidMeta?: (member: Member, reason: string) => void;
  /** Scheme for forwarding to peers: "https" when cluster.tls is on. */
  peerScheme?: "http" | "https";
}

export function buildSnapshot(i: SnapshotInputs): RoutingSnapshot {
  const peers: PeerNode[] = [];
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
    if (meta.meta.healthy === 0) continue;
    peers.push({
      name: m.name,
      address: m.address,
      host: m.address,
      port: meta.meta.proxyPort,
      proxyPort: meta.meta.proxyPort,
      weight: meta.meta.healthy,
      origin: `${i.peerScheme ?? "http"}://${formatHostPort(m.address, meta.meta.proxyPort)}`,
    });
  }
  return {
    version: i.version,
    nodeName: i.nodeName,
    backends: i.backends.map((b, index) => ({
      index,
      address: b.address,
      host: b.host,
      port: b.port,
      origin: `http://${formatHostPort(b.host, b.port)}`,
      healthy: b.status === "up",
    })),
    peers,
    memberAddresses: [...memberAddresses],
    memberNames,
    aliveAddresses,
  };
}
