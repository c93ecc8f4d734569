// The node config for the network labs (multi-host namespaces, chaos network faults): every node on
// its own address with the same fixed ports, a shared key, fast gossip. Scenarios add what they vary.

/** Fast gossip: probes every 200 ms, push/pull every 2 s (LAN defaults divided by ~5–15). */
export const FAST_TIMINGS = { probe_interval: "200ms", probe_timeout: "80ms", gossip_interval: "30ms", pushpull_interval: "2s" };

export const LAB_PORTS = { gossip: 7946, proxy: 8080, admin: 9901 } as const;

type Values = Record<string, string | number>;

export interface LabNodeSpec {
  /** node_name is `node-<name>`. */
  name: string;
  /** Gossip bind and advertise address, admin bind address. */
  ip: string;
  sharedKey: string;
  peers: string[];
  /** Backend addresses ("host:port"). */
  backends: string[];
  /** Source ranges allowed on the admin API (the test reads /status from outside). */
  adminAllow: string[];
  /** Extra keys per section; [cluster] starts from FAST_TIMINGS, [health] from a fast rise/fall of 1. */
  cluster?: Values;
  proxy?: Values;
  health?: Values;
}

function values(o: Values): string {
  return Object.entries(o)
    .map(([k, v]) => `${k} = ${typeof v === "number" ? v : JSON.stringify(v)}`)
    .join("\n");
}

export function labNodeToml(s: LabNodeSpec): string {
  return `[cluster]
node_name = "node-${s.name}"
listen_port = ${LAB_PORTS.gossip}
bind_address = "${s.ip}"
advertise_address = "${s.ip}"
shared_key = ${JSON.stringify(s.sharedKey)}
peers = ${JSON.stringify(s.peers)}
${values({ ...FAST_TIMINGS, ...s.cluster })}
[proxy]
listen_port = ${LAB_PORTS.proxy}
${values(s.proxy ?? {})}
[admin]
listen_port = ${LAB_PORTS.admin}
bind_address = "${s.ip}"
allow = ${JSON.stringify(s.adminAllow)}
[health]
${values({ interval: "500ms", timeout: "200ms", rise: 1, fall: 1, ...s.health })}
${s.backends.map((b) => `[[backends]]\naddress = "${b}"`).join("\n")}
`;
}
