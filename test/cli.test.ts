import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { colourEnabled, renderUsage } from "../src/cli/usage.ts";
import { parseConfig } from "../src/config/index.ts";
import { startBackend } from "./fixtures/backend.ts";
import { freePort, startNode, until } from "./helpers/node.ts";

const MAIN = join(import.meta.dir, "../src/main.ts");
const dir = mkdtempSync(join(tmpdir(), "cc-cli-"));

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const ROOT = join(import.meta.dir, "..");

function run(args: string[], cwd = ROOT) {
  const p = Bun.spawnSync(["bun", MAIN, ...args], { stdout: "pipe", stderr: "pipe", cwd });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

/** For commands that talk to a node in this process: spawnSync would block the node's event loop. */
async function runAsync(args: string[]) {
  const p = Bun.spawn(["bun", MAIN, ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out, err };
}


describe("CLI", () => {
  test("--check on the example config prints the resolved config and exits 0", () => {
    const r = run(["--check", join(import.meta.dir, "../config.example.toml")]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("valid");
    expect(r.out).toContain('interval = "10s"');
    expect(r.out).toContain('bind_address = "127.0.0.1"');
    expect(r.out).not.toContain("your-secret-key-here");
  });

  test("a bad config exits 2, names every key, and binds nothing", () => {
    const port = freePort();
    const cfg = write(
      "bad.toml",
      `[proxy]\nlisten_port = ${port}\nbind_address = "127.0.0.1"\n[health]\ninterval = "often"\n[[backends]]\naddress = "nope"\n`,
    );
    const r = run([cfg]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("health.interval");
    expect(r.err).toContain("backends[0].address");
    // Nothing bound: the port is still free.
    const s = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
    s.stop(true);
  });

  test("a missing config file exits 2 and says how to make one", () => {
    const absent = join(dir, "absent.toml");
    const r = run([absent]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`no config file at ${absent}`);
    expect(r.err).toContain(`bun src/main.ts init --output ${absent} --backend 127.0.0.1:3000`);
    expect(r.err).toContain(`cp config.example.toml ${absent}`);
    // The default path, as in the README's first run.
    const d = run([], dir);
    expect(d.code).toBe(2);
    expect(d.err).toContain("no config file at config.toml");
    expect(d.err).toMatch(/init --backend 127\.0\.0\.1:3000/);
  });

  test("--help names the command as run, has no colour off a terminal, aligns options; --version prints the version", () => {
    const h = run(["--help"]);
    expect(h.code).toBe(0);
    expect(h.out).toContain("Usage: bun src/main.ts [OPTIONS] [CONFIG]");
    expect(h.out).toContain("bun src/main.ts init --backend 127.0.0.1:3000");
    expect(h.out).not.toContain("\x1b[");
    // The version is in the summary, not glued to an example.
    expect(h.out.split("\n")[0]).toMatch(/^ClusterClub \d+\.\d+\.\d+: /);
    expect(h.out).not.toMatch(/\(clusterclub v/);
    const options = h.out.slice(h.out.indexOf("Options:"), h.out.indexOf("Commands:")).split("\n").filter((l) => l.startsWith("  --"));
    expect(options.map((l) => l.slice(2, l.search(/\S {2,}\S/) + 1)).sort()).toEqual(["--check", "--log-format FORMAT", "--log-level LEVEL", "--watch"]);
    expect(new Set(options.map((l) => l.search(/ {2,}\S/) + l.match(/ {2,}\S/)![0].length)).size).toBe(1);
    // Each subcommand's help names it after the program.
    expect(run(["init", "--help"]).out).toContain("Usage: bun src/main.ts init [OPTIONS]");
    const v = run(["--version"]);
    expect(v.out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  test("help is coloured only on a terminal, never with NO_COLOR", () => {
    expect(colourEnabled({ isTTY: true }, {})).toBe(true);
    expect(colourEnabled({ isTTY: true }, { NO_COLOR: "1" })).toBe(false);
    expect(colourEnabled({ isTTY: false }, {})).toBe(false);
    expect(colourEnabled({}, {})).toBe(false);
    const args = { watch: { type: "boolean", description: "w" } } as const;
    expect(renderUsage(args, { summary: "s" }, true, "cc")).toContain("\x1b[");
    expect(renderUsage(args, { summary: "s" }, false, "cc")).not.toContain("\x1b[");
  });

  test("--check warns about the example's placeholder key on stderr", () => {
    const r = run(["--check", join(ROOT, "config.example.toml")]);
    expect(r.code).toBe(0);
    expect(r.err).toContain('warning: cluster.shared_key: is the example\'s placeholder "your-secret-key-here"');
  });

  test("SIGTERM drains in-flight requests, then exits 0", async () => {
    const backend = startBackend();
    const proxyPort = freePort();
    const adminPort = freePort();
    const cfg = write(
      "run.toml",
      `[cluster]\nlisten_port = 0\n[proxy]\nlisten_port = ${proxyPort}\nbind_address = "127.0.0.1"\n[admin]\nlisten_port = ${adminPort}\n[[backends]]\naddress = "127.0.0.1:${backend.port}"\n`,
    );
    const proc = Bun.spawn(["bun", MAIN, cfg, "--log-format", "json"], { stdout: "pipe", stderr: "pipe" });
    try {
      await until(async () => (await fetch(`http://127.0.0.1:${adminPort}/health`).catch(() => null))?.ok === true, 10_000);
      const slow = fetch(`http://127.0.0.1:${proxyPort}/slow/600`).then((r) => r.text());
      await until(() => (backend.hits.get("/slow/600") ?? 0) > 0);
      proc.kill("SIGTERM");
      expect(await slow).toContain("slow 600ms");
      expect(await proc.exited).toBe(0);
      const log = await new Response(proc.stderr).text();
      const lines = log.trim().split("\n").map((l) => JSON.parse(l) as { msg: string; level: string });
      expect(lines.map((l) => l.msg)).toContain("stopped");
      // No shared_key while gossip binds 0.0.0.0 (the default): warned once, at start.
      expect(lines.filter((l) => l.level === "warn").map((l) => l.msg)).toEqual([
        expect.stringMatching(/^cluster\.shared_key is not set while gossip binds 0\.0\.0\.0: /),
      ]);
    } finally {
      proc.kill("SIGKILL");
      await backend.stop();
    }
  });
});

describe("clusterclub init", () => {
  const BACKEND = "127.0.0.1:3000";

  test("writes a commented config with a new key, the hostname and the given backends and peers; it checks clean", () => {
    const out = join(dir, "init.toml");
    const r = run(["init", "--backend", BACKEND, "--backend=[::1]:3001", "--peer", "edge-1.internal:7946", "--output", out]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain(`wrote ${out}`);
    expect(statSync(out).mode & 0o777).toBe(0o600); // it holds the cluster key
    const text = readFileSync(out, "utf8");
    expect(text).toMatch(/^# /m);
    const c = parseConfig(text, out);
    expect(c.cluster.nodeName).toBe(hostname());
    expect(c.cluster.sharedKey).toMatch(/^base64:/);
    expect(Buffer.from(c.cluster.sharedKey!.slice(7), "base64").length).toBe(32);
    expect(c.cluster.peers).toEqual(["edge-1.internal:7946"]);
    expect(c.backends.map((b) => b.address)).toEqual([BACKEND, "[::1]:3001"]);
    const check = run(["--check", out]);
    expect(check.code).toBe(0);
    expect(check.err).toBe(""); // no warnings
    // Two runs, two keys.
    const other = join(dir, "init2.toml");
    run(["init", "--backend", BACKEND, "--output", other]);
    expect(parseConfig(readFileSync(other, "utf8")).cluster.sharedKey).not.toBe(c.cluster.sharedKey);
  });

  test("the commented-out values are the defaults", () => {
    const out = join(dir, "defaults.toml");
    expect(run(["init", "--backend", BACKEND, "--output", out]).code).toBe(0);
    const text = readFileSync(out, "utf8");
    // Uncomment every "# key = value" line except the ones marked as an example.
    const uncommented = text.replace(/^# (\w+ = [^#\n]*?)(\s+#(?! e\.g\.).*)?$/gm, (line, kv: string, comment: string | undefined) =>
      comment?.includes("e.g.") ? line : kv,
    );
    expect(uncommented).not.toBe(text);
    expect(uncommented).toContain("\nlisten_port = 7946");
    expect(uncommented).toContain('\ndrain_timeout = "30s"');
    expect(parseConfig(uncommented)).toEqual(parseConfig(text));
  });

  test("refuses to overwrite, and rejects a missing or bad --backend", () => {
    const out = write("existing.toml", "# mine\n");
    const r = run(["init", "--backend", BACKEND, "--output", out]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("exists; not overwriting");
    expect(readFileSync(out, "utf8")).toBe("# mine\n");
    const none = run(["init", "--output", join(dir, "none.toml")]);
    expect(none.code).toBe(2);
    expect(none.err).toContain("--backend: give your app's address");
    const bad = run(["init", "--backend", "nope", "--peer", "also:bad:port", "--output", join(dir, "bad-init.toml")]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--backend: "nope" is not host:port');
    expect(bad.err).toContain("--peer:");
    expect(existsSync(join(dir, "none.toml")) || existsSync(join(dir, "bad-init.toml"))).toBe(false);
  });
});

describe("CLI tools", () => {
  test("keygen prints a base64 key of 32 bytes that a node accepts", () => {
    const r = run(["keygen"]);
    expect(r.code).toBe(0);
    const key = r.out.trim();
    expect(key).toMatch(/^base64:/);
    expect(Buffer.from(key.slice(7), "base64").length).toBe(32);
    const cfg = write("key.toml", `[cluster]\nshared_key = "${key}"\n[[backends]]\naddress = "127.0.0.1:1"\n`);
    expect(run(["--check", cfg]).code).toBe(0);
  });

  test("members and status read a running node's admin API, as a table or JSON", async () => {
    const backend = startBackend();
    const node = await startNode({ name: "cli-node", backends: [`127.0.0.1:${backend.port}`] });
    try {
      const admin = `127.0.0.1:${node.admin.port}`;
      const m = await runAsync(["members", "--admin", admin]);
      expect(m.code).toBe(0);
      expect(m.out).toMatch(/^NAME\s+ADDRESS\s+STATE\s+HEALTHY/);
      expect(m.out).toMatch(/cli-node \(self\)\s+\S+\s+alive\s+1/);
      const mj = JSON.parse((await runAsync(["members", "--admin", admin, "--json"])).out) as { name: string; state: string }[];
      expect(mj.map((x) => [x.name, x.state])).toEqual([["cli-node", "alive"]]);
      const s = await runAsync(["status", "--admin", admin]);
      expect(s.out).toContain("healthy backends 1/1");
      expect(s.out).toContain(`pid ${process.pid}`);
      expect(s.out).toContain("proxy in the node's own process");
      expect(s.out).toContain(`127.0.0.1:${backend.port}`);
      const sj = JSON.parse((await runAsync(["status", "--admin", admin, "--json"])).out) as { node: string; pid: number; workers: { pid: number }[] };
      expect(sj.node).toBe("cli-node");
      expect(sj.workers.map((w) => w.pid)).toEqual([process.pid]);
    } finally {
      await node.stop(0);
      await backend.stop();
    }
  });

  test("members against a node that is not running exits 1 with a hint", () => {
    const r = run(["members", "--admin", `127.0.0.1:${freePort()}`]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("cannot reach the admin API");
    expect(r.err).toContain("ECONNREFUSED");
    expect(r.err).toContain("bun src/main.ts members --admin 127.0.0.2:9901");
  });
});
