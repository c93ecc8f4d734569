// `bun run build`: the single executable runs a node in front of a real app with no bun on PATH,
// including its proxy worker processes (which it starts from itself).
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBackend } from "./fixtures/backend.ts";
import { freePort, until } from "./helpers/node.ts";

const ROOT = join(import.meta.dir, "..");
const BIN = join(ROOT, "dist/clusterclub");
const dir = mkdtempSync(join(tmpdir(), "cc-build-"));
// Nothing on PATH: the executable must need neither bun nor anything else.
const env = { PATH: join(dir, "empty-path") };

async function exec(args: string[]) {
  const p = Bun.spawn([BIN, ...args], { stdout: "pipe", stderr: "pipe", env, cwd: dir });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out, err };
}

describe("bun run build", () => {
  test(
    "writes dist/clusterclub, which inits a config and serves an app with two workers, without bun",
    async () => {
      const build = Bun.spawnSync(["bun", "run", "build"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
      expect(build.stderr.toString()).not.toContain("error");
      expect(build.exitCode).toBe(0);

      const help = await exec(["--help"]);
      expect(help.code).toBe(0);
      expect(help.out).toContain(`Usage: ${BIN} [OPTIONS] [CONFIG]`);

      const app = startBackend({ name: "app" });
      const cfg = join(dir, "config.toml");
      const init = await exec(["init", "--backend", `127.0.0.1:${app.port}`, "--output", cfg]);
      expect(init.code).toBe(0);
      // The generated file with this test's free ports and two proxy workers.
      const [proxyPort, adminPort] = [freePort(), freePort()];
      const text = readFileSync(cfg, "utf8")
        .replace("# listen_port = 7946 ", "listen_port = 0 ")
        .replace("# bind_address = \"0.0.0.0\"", 'bind_address = "127.0.0.1"')
        .replace("# listen_port = 8080 ", `listen_port = ${proxyPort} `)
        .replace("# workers = 0 ", "workers = 2 ")
        .replace("# listen_port = 9901 ", `listen_port = ${adminPort} `);
      writeFileSync(cfg, text);

      const node = Bun.spawn([BIN, cfg, "--log-format", "json"], { stdout: "pipe", stderr: "pipe", env, cwd: dir });
      try {
        await until(async () => (await fetch(`http://127.0.0.1:${adminPort}/health`).catch(() => null))?.ok === true, 15_000);
        for (let i = 0; i < 4; i++) expect(await (await fetch(`http://127.0.0.1:${proxyPort}/`)).text()).toContain("Hello from app");
        const status = await exec(["status", "--admin", `127.0.0.1:${adminPort}`]);
        expect(status.code).toBe(0);
        expect(status.out).toMatch(/proxy 2 worker processes \(\d+, \d+\), 0 restarts/);
        node.kill("SIGTERM");
        expect(await node.exited).toBe(0);
        const log = await new Response(node.stderr).text();
        expect(log).toContain('"msg":"stopped"');
      } finally {
        node.kill("SIGKILL");
        await app.stop();
      }
    },
    30_000,
  );
});
