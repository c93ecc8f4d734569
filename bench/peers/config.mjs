// The config the `plain` column reads (bench/clusterclub.toml.tmpl rendered by bench/lib/targets.ts):
// [proxy] listen_port and the two [[backends]] addresses. Shared by the Node.js peers.
import { readFileSync } from "node:fs";
import { parse } from "smol-toml";

export function readConfig(path = process.argv[2] ?? "config.toml") {
  const cfg = parse(readFileSync(path, "utf8"));
  return {
    port: cfg.proxy.listen_port,
    upstreams: cfg.backends.map((b) => `http://${b.address}`),
  };
}
