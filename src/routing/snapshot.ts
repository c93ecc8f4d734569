// The routing snapshot: everything the data plane needs to decide, as plain data (so another
// process can receive it over IPC). The control plane builds a new one on every change and
// swaps it in whole; the request path never waits on anything to decide.

export interface LocalBackend {
  /** Index in the configured backend list (stable; keys health and metrics). */
  index: number;
  address: string;
  host: string;
  port: number;
  /** "http://host:port", precomputed so the request path only concatenates the path. */
  origin: string;
  healthy: boolean;
}

export interface PeerNode {
  name: string;
  address: string;
  /** Same as address; with `port` this is the upstream target for the pooled client. */
  host: string;
  port: number;
  proxyPort: number;
  /** Healthy backend count the peer publishes; 0 = gets no traffic. */
  weight: number;
  origin: string;
}

export interface RoutingSnapshot {
  version: number;
  nodeName: string;
  backends: LocalBackend[];
  /** Alive peers with their weights (suspect/dead peers are left out: they get no new traffic). */
  peers: PeerNode[];
  /** Source addresses of known members (alive, suspect, recently dead): their requests are served locally only. */
  memberAddresses: string[];
  /** Names of all known members, to recognise our own hops in `Via`. */
  memberNames: string[];
  /** Addresses of the members that are alive now (whatever their weight). */
  aliveAddresses: string[];
}

export function emptySnapshot(nodeName: string): RoutingSnapshot {
  return { version: 0, nodeName, backends: [], peers: [], memberAddresses: [], memberNames: [], aliveAddresses: [] };
}
