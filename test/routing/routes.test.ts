import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/parse.ts";
import type { RouteConfig } from "../../src/config/schema.ts";
import { hostOnly, RouteTable, stripPrefix } from "../../src/routing/routes.ts";

const r = (pool: string, pathPrefix = "/", host?: string, stripPrefix = false): RouteConfig => ({ pool, pathPrefix, host, stripPrefix });
const poolOf = (t: RouteTable, host: string | null, path: string) => t.match(host, path)?.pool ?? "404";

describe("route table", () => {
  test("specificity, not file order: exact host, then wildcard, then any host; the longest prefix within each", () => {
    // Deliberately listed from least to most specific.
    const t = new RouteTable(
      [r("any-root"), r("any-v1", "/v1"), r("wild", "/", "*.example.com"), r("wild-deep", "/", "*.eu.example.com"), r("exact", "/", "api.example.com"), r("exact-v1", "/v1", "api.example.com"), r("exact-v1-admin", "/v1/admin", "api.example.com")],
      undefined,
    );
    expect(poolOf(t, "api.example.com", "/v1/admin/users")).toBe("exact-v1-admin");
    expect(poolOf(t, "api.example.com", "/v1/users?x=1")).toBe("exact-v1");
    expect(poolOf(t, "api.example.com", "/other")).toBe("exact");
    expect(poolOf(t, "www.example.com", "/v1/x")).toBe("wild");
    expect(poolOf(t, "a.b.example.com", "/")).toBe("wild");
    expect(poolOf(t, "x.eu.example.com", "/")).toBe("wild-deep");
    // A wildcard does not match its own apex.
    expect(poolOf(t, "example.com", "/v1/x")).toBe("any-v1");
    expect(poolOf(t, "elsewhere.test", "/")).toBe("any-root");
    expect(poolOf(t, null, "/v1")).toBe("any-v1");
  });

  test("an exact host whose prefixes do not match falls through to less specific hosts", () => {
    const t = new RouteTable([r("api", "/v1", "api.example.com"), r("wild", "/", "*.example.com")], "default");
    expect(poolOf(t, "api.example.com", "/v2")).toBe("wild");
    expect(poolOf(t, "other.test", "/v1")).toBe("default");
  });

  test("prefixes match on segment boundaries only", () => {
    const t = new RouteTable([r("v1", "/v1")], undefined);
    expect(poolOf(t, "h", "/v1")).toBe("v1");
    expect(poolOf(t, "h", "/v1/")).toBe("v1");
    expect(poolOf(t, "h", "/v1/x")).toBe("v1");
    expect(poolOf(t, "h", "/v1?q")).toBe("v1");
    expect(poolOf(t, "h", "/v10")).toBe("404");
    expect(poolOf(t, "h", "/v")).toBe("404");
    expect(poolOf(t, "h", "/V1")).toBe("404");
  });

  test("hosts match whatever their case, port or trailing dot", () => {
    const t = new RouteTable([r("api", "/", "api.example.com"), r("v6", "/", "[::1]")], undefined);
    for (const h of ["API.Example.com", "api.example.com:8443", "api.example.com.", "api.example.com.:80"]) expect(poolOf(t, h, "/")).toBe("api");
    expect(poolOf(t, "[::1]:8080", "/")).toBe("v6");
    expect(hostOnly("[::1]")).toBe("[::1]");
  });

  test("no route and no default pool: undefined (the proxy answers 404); with a default pool, that", () => {
    expect(new RouteTable([r("api", "/v1")], undefined).match("h", "/x")).toBeUndefined();
    expect(new RouteTable([], "default").match("h", "/x")?.pool).toBe("default");
    expect(new RouteTable([], undefined).match("h", "/x")).toBeUndefined();
  });

  test("strip_prefix: the backend sees the rest of the path, at least /, with the query kept", () => {
    const t = new RouteTable([r("api", "/v1", undefined, true), r("keep", "/k")], undefined);
    const up = (p: string) => {
      const route = t.match("h", p)!;
      return route.stripPrefix ? stripPrefix(route.prefix, p) : p;
    };
    expect(up("/v1/users?id=2")).toBe("/users?id=2");
    expect(up("/v1")).toBe("/");
    expect(up("/v1/")).toBe("/");
    expect(up("/v1?x=1")).toBe("/?x=1");
    expect(up("/k/a")).toBe("/k/a");
    // Not on a segment boundary (a peer's claim that does not fit the path): unchanged.
    expect(stripPrefix("/v1", "/v10/x")).toBe("/v10/x");
  });

  test("ordered() lists routes in the order they are tried, the fallback last", () => {
    const t = new RouteTable([r("any"), r("w", "/", "*.example.com"), r("e2", "/a/b", "b.test"), r("e1", "/a", "b.test"), r("e0", "/", "a.test")], "default");
    expect(t.ordered().map((x) => `${x.host} ${x.prefix || "/"} ${x.pool}`)).toEqual(["a.test / e0", "b.test /a/b e2", "b.test /a e1", "*.example.com / w", "* / any", "* / default"]);
  });
});

describe("[[pools]] and [[routes]] in the config", () => {
  const base = `[cluster]\nnode_name = "a"\n`;
  const issues = (toml: string) => {
    try {
      parseConfig(base + toml);
      return [];
    } catch (e) {
      return (e as { issues: { path: string; message: string }[] }).issues.map((i) => `${i.path}: ${i.message}`);
    }
  };

  test("a two-service config resolves: default from [[backends]], named pools, normalised routes", () => {
    const c = parseConfig(`${base}
[[backends]]
address = "127.0.0.1:3000"
[[pools]]
name = "api"
[[pools.backends]]
address = "127.0.0.1:4001"
[[pools]]
name = "web"
[[routes]]
host = "API.example.com"
path_prefix = "/v1/"
pool = "api"
strip_prefix = true
[[routes]]
host = "*.example.com"
pool = "web"
`);
    expect(c.pools.map((p) => [p.name, p.backends.map((b) => b.address)])).toEqual([["default", ["127.0.0.1:3000"]], ["api", ["127.0.0.1:4001"]], ["web", []]]);
    expect(c.routes).toEqual([
      { host: "api.example.com", pathPrefix: "/v1", pool: "api", stripPrefix: true },
      { host: "*.example.com", pathPrefix: "/", pool: "web", stripPrefix: false },
    ]);
  });

  test("a node with routes only (its pools served elsewhere) needs no [[backends]]", () => {
    const c = parseConfig(`${base}[[routes]]\npool = "api"\n`);
    expect(c.backends).toEqual([]);
    expect(c.pools).toEqual([]);
  });

  test("ties are an error naming both routes", () => {
    const got = issues(`[[routes]]\nhost = "a.test"\npath_prefix = "/v1"\npool = "x"\n[[routes]]\nhost = "A.test"\npath_prefix = "/v1/"\npool = "y"\n`);
    expect(got).toEqual([expect.stringMatching(/^routes\[1\]: matches exactly what routes\[0\] matches/)]);
  });

  test("bad keys are named", () => {
    expect(issues(`[[routes]]\npath_prefix = "v1"\npool = "x"\n`)).toEqual([expect.stringMatching(/^routes\[0\]\.path_prefix: "v1" must start with "\/"/)]);
    expect(issues(`[[routes]]\nhost = "a.test:80"\npool = "x"\n`)).toEqual([expect.stringMatching(/^routes\[0\]\.host: .*port/)]);
    expect(issues(`[[routes]]\nhost = "a.*.test"\npool = "x"\n`)).toEqual([expect.stringMatching(/^routes\[0\]\.host: .*wildcard/)]);
    expect(issues(`[[routes]]\nhost = "a.test"\n`)).toEqual([expect.stringMatching(/^routes\[0\]\.pool: is required/)]);
    expect(issues(`[[routes]]\npool = "Bad Name"\n`)).toEqual([expect.stringMatching(/^routes\[0\]\.pool: /)]);
    expect(issues(`[[pools]]\nname = "${"x".repeat(33)}"\n`)).toEqual([expect.stringMatching(/^pools\[0\]\.name: .*longer than 32/)]);
    expect(issues(`[[backends]]\naddress = "127.0.0.1:1"\n[[pools]]\nname = "default"\n`)).toEqual([expect.stringMatching(/^pools\[0\]\.name: pool "default" is already defined by \[\[backends\]\]/)]);
    expect(issues(`[[pools]]\nname = "a"\n[[pools.backends]]\naddress = "nope"\n`)).toEqual([expect.stringMatching(/^pools\[0\]\.backends\[0\]\.address: /)]);
    expect(issues(`[[pools]]\nname = "a"\nbalance = "x"\n`)).toEqual([expect.stringMatching(/^pools\[0\]\.balance: expected one of "round_robin"/)]);
    expect(issues(`[[pools]]\nname = "a"\nweight = 1\n`)).toEqual([expect.stringMatching(/^pools\[0\]\.weight: unknown key/)]);
    expect(issues(`[[pools]]\nname = "a"\nhash_key = "uri"\n`)).toEqual([expect.stringMatching(/^pools\[0\]\.hash_key: "uri" is not a hash key/)]);
    expect(issues(`[[pools]]\nname = "a"\n[pools.health]\nmax_fails = 3\n`)).toEqual([expect.stringMatching(/^pools\[0\]\.health\.max_fails: unknown key/)]);
    expect(issues(`[[pools]]\nname = "a"\n[pools.passive]\nexpect = "200"\n`)).toEqual([expect.stringMatching(/^pools\[0\]\.passive\.expect: unknown key/)]);
    expect(issues(`[[pools]]\nname = "a"\n[pools.health]\nexpect = "2xx"\n`)).toEqual([expect.stringMatching(/^pools\[0\]\.health\.expect: /)]);
    expect(issues("")).toEqual([expect.stringMatching(/^backends: no backends/)]);
  });

  test("more than 64 pools is an error (gossip metadata holds 64)", () => {
    const many = Array.from({ length: 65 }, (_, i) => `[[pools]]\nname = "p${i}"\n`).join("");
    expect(issues(many)).toEqual([expect.stringMatching(/^pools: 65 pools/)]);
  });
});
