// `clusterclub init`: writes a first config.toml for this host: a fresh cluster key, the hostname as
// node_name, the app's backends and the cluster's seeds from the command line, every other key commented
// with its default. It never overwrites a file.

import { writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { keygen } from "../cluster/index.ts";
import { parseHostPort } from "../config/hostport.ts";
import { programName } from "../executable.ts";
import { errorCodeOrMessage } from "../netutil.ts";

export interface InitOptions {
  key: string;
  nodeName: string;
  backends: string[];
  peers: string[];
}

const list = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(", ")}]`;

/** The file's text. Every line but the given values is a default, so `--check` shows what it resolves to. */
export function initConfig(o: InitOptions): string {
  return `# ClusterClub node configuration, written by \`clusterclub init\`. Defaults are shown commented out.
# Check it: clusterclub --check config.toml   Reload it: kill -HUP <pid>   All keys: config.example.toml

[cluster]
node_name = ${JSON.stringify(o.nodeName)}   # unique and stable: a restarted node keeps its identity
# Every node of the cluster needs this same key: copy it to the others (or to a Kubernetes Secret).
shared_key = ${JSON.stringify(o.key)}
# Seeds: one or more other nodes, "host:port" (a DNS name resolves to all its addresses). Empty: alone.
peers = ${list(o.peers)}
# listen_port = 7946                  # gossip, UDP and TCP: open it between the nodes
# bind_address = "0.0.0.0"
# advertise_address = "198.18.0.10"   # e.g.; default: first non-loopback interface address

[proxy]
# listen_port = 8080                  # clients connect here
# bind_address = "0.0.0.0"
# workers = 0                         # proxy processes, 0 = one per core
# drain_timeout = "30s"               # on SIGTERM, time given to requests in flight (systemd TimeoutStopSec must be longer)
# response_timeout = "60s"
# max_body_bytes = 0                  # 0 = unlimited

[health]
# interval = "10s"                    # TCP connect check of every backend
# rise = 2
# fall = 3

[admin]
# listen_port = 9901                  # /health, /status, /metrics; clusterclub members|status read it
# bind_address = "127.0.0.1"

# Your app: the backends this node balances over (their health is checked before they get traffic).
${o.backends.map((b) => `[[backends]]\naddress = ${JSON.stringify(b)}\n`).join("\n")}`;
}

/** Every value of a repeatable option: `--backend a --backend b` or `--backend=a`. */
export function repeated(rawArgs: string[], name: string): string[] {
  const out: string[] = [];
  rawArgs.forEach((a, i) => {
    if (a === `--${name}` && rawArgs[i + 1] !== undefined) out.push(rawArgs[i + 1]!);
    else if (a.startsWith(`--${name}=`)) out.push(a.slice(name.length + 3));
  });
  return out;
}

/** Writes the file; returns the exit code (0, 1: file exists or cannot be written, 2: a bad argument). */
export function runInit(rawArgs: string[], output: string): number {
  const backends = repeated(rawArgs, "backend");
  const peers = repeated(rawArgs, "peer");
  const p = programName();
  const bad = [...backends.map((b) => ["--backend", b]), ...peers.map((b) => ["--peer", b])]
    .map(([flag, v]) => [flag, parseHostPort(v!)] as const)
    .filter((x): x is readonly [string, string] => typeof x[1] === "string");
  for (const [flag, why] of bad) console.error(`${flag}: ${why}; expected host:port`);
  if (backends.length === 0) console.error(`--backend: give your app's address, e.g. ${p} init --backend 127.0.0.1:3000 (repeat it for more)`);
  if (bad.length > 0 || backends.length === 0) return 2;
  const text = initConfig({ key: keygen(), nodeName: hostname(), backends, peers });
  try {
    // "wx": fails if the file exists; 0600: it holds the cluster key.
    writeFileSync(output, text, { flag: "wx", mode: 0o600 });
  } catch (e) {
    const code = errorCodeOrMessage(e);
    console.error(code === "EEXIST" ? `${output} exists; not overwriting it (remove it, or write elsewhere with --output FILE)` : `cannot write ${output}: ${code}`);
    return 1;
  }
  process.stdout.write(
    `wrote ${output}: node_name "${hostname()}", ${backends.length} backend(s), ${peers.length} peer(s), a new cluster key\n` +
      `next: ${p} --check ${output}, then run it: ${p} ${output}\n` +
      `more nodes: run init on each with --peer <this host>:7946, then give them this file's shared_key\n`,
  );
  return 0;
}
