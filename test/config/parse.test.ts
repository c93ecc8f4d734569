import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, parseConfig } from "../../src/config/index.ts";

function issuesOf(text: string): { path: string; message: string }[] {
  try {
    parseConfig(text);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

const ORIGINAL = `
[cluster]
listen_port = 7946
shared_key = "your-secret-key-here"
peers = []

[proxy]
listen_port = 8080

[[backends]]
address = "127.0.0.1:3003"

[[backends]]
address = "127.0.0.1:3004"
`;

describe("config", () => {
  test("the original Rust project's config is still valid, with defaults filled in", () => {
    const c = parseConfig(ORIGINAL);
    expect(c.cluster.listenPort).toBe(7946);
    expect(c.cluster.sharedKey).toBe("your-secret-key-here");
    expect(c.proxy.listenPort).toBe(8080);
    expect(c.proxy.bindAddress).toBe("0.0.0.0");
    expect(c.admin).toEqual({ listenPort: 9901, bindAddress: "127.0.0.1", allow: ["127.0.0.0/8", "::1/128"] });
    expect(c.health).toEqual({
      intervalMs: 10_000,
      timeoutMs: 1000,
      type: "tcp",
      path: "/",
      expect: "200-399",
      rise: 2,
      fall: 3,
      maxFails: 0,
      failWindowMs: 10_000,
      ejectionTimeMs: 30_000,
      maxEjectedPercent: 50,
    });
    expect(c.proxy.balance).toBe("round_robin");
    expect(c.proxy.maxBodyBytes).toBe(0);
    expect(c.backends.map((b) => [b.host, b.port])).toEqual([["127.0.0.1", 3003], ["127.0.0.1", 3004]]);
    expect(c.cluster.nodeName.length).toBeGreaterThan(0);
  });

  test("durations are parsed from strings", () => {
    const c = parseConfig(`[health]\ninterval = "1m30s"\ntimeout = "250ms"\n[[backends]]\naddress = "a.example:80"`);
    expect(c.health.intervalMs).toBe(90_000);
    expect(c.health.timeoutMs).toBe(250);
  });

  test("every problem is reported at once, each naming its key path", () => {
    const issues = issuesOf(`
[cluster]
listen_port = 70000
bogus = 1
[proxy]
listen_port = "8080"
[health]
interval = "ten seconds"
[[backends]]
address = "127.0.0.1:3003"
[[backends]]
address = "no-port"
[[backends]]
address = "127.0.0.1:3003"
[[backends]]
address = "127.0.0.1:99999"
`);
    const byPath = Object.fromEntries(issues.map((i) => [i.path, i.message]));
    expect(byPath["cluster.listen_port"]).toContain("out of range");
    expect(byPath["cluster.bogus"]).toContain("unknown key");
    expect(byPath["proxy.listen_port"]).toContain("expected a port number");
    expect(byPath["health.interval"]).toContain("not a duration");
    expect(byPath["backends[1].address"]).toContain("not host:port");
    expect(byPath["backends[2].address"]).toContain("duplicate of backends[0].address");
    expect(byPath["backends[3].address"]).toContain("out of range");
    expect(issues.length).toBe(7);
  });

  test("an empty or missing backend list is an error", () => {
    expect(issuesOf(`[proxy]\nlisten_port = 8080`)[0]!.path).toBe("backends");
    expect(issuesOf(`backends = []`)[0]!.message).toContain("empty");
  });

  test("unknown sections, wrong types in arrays, and port clashes are named", () => {
    const issues = issuesOf(`
[proxi]
listen_port = 1
[cluster]
peers = ["10.0.0.1:7946", 5, "nope"]
[admin]
listen_port = 8080
[[backends]]
address = "[::1]:80"
`);
    const paths = issues.map((i) => i.path).sort();
    expect(paths).toEqual(["admin.listen_port", "cluster.peers[1]", "cluster.peers[2]", "proxi"]);
  });

  test("a TOML syntax error gives line and column", () => {
    const issues = issuesOf(`[proxy\nlisten_port = 1`);
    expect(issues[0]!.message).toMatch(/line 1/);
  });

  test("hostname backends are accepted (resolved later, not at parse time)", () => {
    const c = parseConfig(`[[backends]]\naddress = "backend.internal:8080"`);
    expect(c.backends[0]).toEqual({ address: "backend.internal:8080", host: "backend.internal", port: 8080, weight: 1 });
  });
});

test("a short health interval lowers the default check timeout instead of failing", () => {
  const c = parseConfig(`[health]\ninterval = "200ms"\n[[backends]]\naddress = "127.0.0.1:1"`);
  expect(c.health.timeoutMs).toBe(200);
  expect(() => parseConfig(`[health]\ninterval = "200ms"\ntimeout = "1s"\n[[backends]]\naddress = "127.0.0.1:1"`)).toThrow(/health.timeout/);
});

test("proxy.http2 defaults to true; [proxy.tls] http3 without a certificate is an error naming proxy.tls.http3, and the CLI exits 2", () => {
  const one = '\n[[backends]]\naddress = "127.0.0.1:1"';
  expect(parseConfig(one).proxy.http2).toBe(true);
  expect(parseConfig(`[proxy]\nhttp2 = false${one}`).proxy.http2).toBe(false);
  expect(issuesOf(`[proxy.tls]\nhttp3 = true${one}`)).toEqual([{ path: "proxy.tls.http3", message: "needs proxy.tls.cert and proxy.tls.key: HTTP/3 runs over TLS (QUIC) only" }]);
  expect(issuesOf(`[proxy]\nhttp2 = "yes"${one}`)[0]).toEqual({ path: "proxy.http2", message: 'expected true or false, got the string "yes"' });
  const cfg = join(mkdtempSync(join(tmpdir(), "cc-h3cfg-")), "bad.toml");
  writeFileSync(cfg, `[proxy.tls]\nhttp3 = true${one}\n`);
  const p = Bun.spawnSync(["bun", join(import.meta.dir, "../../src/main.ts"), "--check", cfg], { stderr: "pipe", stdout: "pipe" });
  expect(p.exitCode).toBe(2);
  expect(p.stderr.toString()).toContain("proxy.tls.http3: needs proxy.tls.cert and proxy.tls.key");
});
