import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBackend } from "./fixtures/backend.ts";
import { freePort, startNode, until } from "./helpers/node.ts";

const MAIN = join(import.meta.dir, "../src/main.ts");
const dir = mkdtempSync(join(tmpdir(), "cc-cli-"));

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function run(args: string[]) {
  const p = Bun.spawnSync(["bun", MAIN, ...args], { stdout: "pipe", stderr: "pipe" });
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

  test("a missing config file exits 2 with a clear message", () => {
    const r = run([join(dir, "absent.toml")]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("file not found");
  });

  test("--help lists the flags; --version prints the version", () => {
    const h = run(["--help"]);
    expect(h.out + h.err).toContain("--check");
    expect(h.out + h.err).toContain("--log-level");
    const v = run(["--version"]);
    expect(v.out.trim()).toMatch(/^\d+\.\d+\.\d+/);
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
      const lines = log.trim().split("\n").map((l) => JSON.parse(l) as { msg: string });
      expect(lines.map((l) => l.msg)).toContain("stopped");
    } finally {
      proc.kill("SIGKILL");
      await backend.stop();
    }
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
      expect(s.out).toContain(`127.0.0.1:${backend.port}`);
      expect((JSON.parse((await runAsync(["status", "--admin", admin, "--json"])).out) as { node: string }).node).toBe("cli-node");
    } finally {
      await node.stop(0);
      await backend.stop();
    }
  });

  test("members against a node that is not running exits 1 with a hint", () => {
    const r = run(["members", "--admin", `127.0.0.1:${freePort()}`]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("cannot reach the admin API");
  });
});
