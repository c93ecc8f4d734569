// Settings that are valid but probably a mistake in production: logged as warnings at start and by --check.

import { cidrContains, parseCidr } from "./cidr.ts";
import type { ConfigIssue } from "./parse.ts";
import type { Config } from "./schema.ts";

/** The shared_key of config.example.toml (and the original project's README). */
export const PLACEHOLDER_KEY = "your-secret-key-here";

const LOOPBACK = ["127.0.0.0/8", "::1/128"].map((r) => parseCidr(r)).filter((r) => typeof r !== "string");

function isLoopback(address: string): boolean {
  return LOOPBACK.some((r) => cidrContains(r, address));
}

export function configWarnings(c: Config): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const keygen = "make one with `clusterclub keygen`";
  if (c.cluster.sharedKey === PLACEHOLDER_KEY) {
    out.push({ path: "cluster.shared_key", message: `is the example's placeholder "${PLACEHOLDER_KEY}": anyone who has read the example can join this cluster; ${keygen}` });
  }
  if (c.cluster.sharedKey === undefined && !isLoopback(c.cluster.bindAddress)) {
    out.push({
      path: "cluster.shared_key",
      message: `is not set while gossip binds ${c.cluster.bindAddress}: gossip is unencrypted and unauthenticated, so anyone who reaches port ${c.cluster.listenPort} can join the cluster and be sent traffic; ${keygen}`,
    });
  } else if (c.cluster.sharedKey === undefined && !isLoopback(c.proxy.bindAddress)) {
    out.push({
      path: "cluster.shared_key",
      message: `is not set while the proxy serves ${c.proxy.bindAddress}: set one before this node joins others, or their gossip is unencrypted and open to anyone who reaches it; ${keygen}`,
    });
  }
  return out;
}
