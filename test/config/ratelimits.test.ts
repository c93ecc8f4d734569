import { describe, expect, test } from "bun:test";
import { ConfigError, configToToml, parseConfig } from "../../src/config/index.ts";

const BACKEND = `[[backends]]\naddress = "127.0.0.1:3003"\n[[pools]]\nname = "api"\n[[pools.backends]]\naddress = "127.0.0.1:3004"\n`;

function issuesOf(text: string): Record<string, string> {
  try {
    parseConfig(text);
  } catch (e) {
    if (e instanceof ConfigError) return Object.fromEntries(e.issues.map((i) => [i.path, i.message]));
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("[[rate_limits]]", () => {
  test("parsed with defaults (burst = rate, scope = cluster, key = one bucket); absent means none", () => {
    expect(parseConfig(BACKEND).rateLimits).toEqual([]);
    const c = parseConfig(`${BACKEND}
[[rate_limits]]
name = "per-client"
key = "ip"
rate = 100
burst = 200
scope = "cluster"
pool = "api"
[[rate_limits]]
name = "by-key"
key = "header:X-Api-Key"
rate = 5
scope = "node"
[[rate_limits]]
name = "everything"
rate = 1000
`);
    expect(c.rateLimits).toEqual([
      { name: "per-client", key: { kind: "ip" }, rate: 100, burst: 200, scope: "cluster", pool: "api" },
      { name: "by-key", key: { kind: "header", name: "x-api-key" }, rate: 5, burst: 5, scope: "node", pool: undefined },
      { name: "everything", key: { kind: "global" }, rate: 1000, burst: 1000, scope: "cluster", pool: undefined },
    ]);
    expect(c.proxy.rateLimitsMaxKeys).toBe(100_000);
    expect(c.cluster.rateLimitGossipBytes).toBe(65_536);
    // --check prints them back as they parse
    expect(parseConfig(configToToml(c)).rateLimits).toEqual(c.rateLimits);
  });

  test("every bad entry is named by its key path", () => {
    const issues = issuesOf(`${BACKEND}
[[rate_limits]]
name = "a"
key = "cookie"
rate = 1
[[rate_limits]]
name = "a"
rate = 1
[[rate_limits]]
key = "header:bad name"
rate = 0
scope = "planet"
extra = 1
[proxy]
rate_limits_max_keys = 5
`);
    expect(issues["rate_limits[0].key"]).toContain('"cookie" is not a key');
    expect(issues["rate_limits[1].name"]).toContain("duplicate of rate_limits[0].name");
    expect(issues["rate_limits[2].name"]).toContain("is required");
    expect(issues["rate_limits[2].rate"]).toContain("out of range");
    expect(issues["rate_limits[2].scope"]).toContain('"cluster", "node"');
    expect(issues["rate_limits[2].extra"]).toContain("unknown key");
    expect(issues["proxy.rate_limits_max_keys"]).toContain("out of range");
    expect(issuesOf(`${BACKEND}\n[[rate_limits]]\nname = "x"\nrate = 1\nkey = "header:bad name"`)["rate_limits[0].key"]).toContain("not a header field name");
    expect(issuesOf(`${BACKEND}\n[[rate_limits]]\nname = "x"\nrate = 1\npool = "web"`)["rate_limits[0].pool"]).toBe('no pool named "web"; pools: default, api');
    expect(issuesOf(`rate_limits = 3\n${BACKEND}`)["rate_limits"]).toContain("array of tables");
  });
});
