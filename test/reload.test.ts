// Reload without restart: SIGHUP and --watch on a real node process.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBackend } from "./fixtures/backend.ts";
import { freePort, until } from "./helpers/node.ts";

const MAIN = join(import.meta.dir, "../src/main.ts");


function configText(proxyPort: number, adminPort: number, backends: number[], extra = ""): string {
  return `[cluster]\nlisten_port = 0\nbind_address = "127.0.0.1"\n[proxy]\nlisten_port = ${proxyPort}\nbind_address = "127.0.0.1"\n${extra}\n[admin]\nlisten_port = ${adminPort}\n[health]\ninterval = "200ms"\nrise = 1\n${backends.map((p) => `[[backends]]\naddress = "127.0.0.1:${p}"`).join("\n")}\n`;
}

async function backendsOf(adminPort: number): Promise<string[]> {
  const s = (await (await fetch(`http://127.0.0.1:${adminPort}/status`)).json()) as { backends: { address: string; healthy: boolean }[] };
  return s.backends.filter((b) => b.healthy).map((b) => b.address).sort();
}

describe("config reload", () => {
  for (const mode of ["SIGHUP", "--watch"] as const) {
    test(`${mode}: backends added and removed take effect, in-flight requests are untouched, a broken file is rejected`, async () => {
      const a = startBackend({ name: "a" });
      const b = startBackend({ name: "b" });
      const proxyPort = freePort();
      const adminPort = freePort();
      const dir = mkdtempSync(join(tmpdir(), "cc-reload-"));
      const cfg = join(dir, "config.toml");
      writeFileSync(cfg, configText(proxyPort, adminPort, [a.port]));
      const args = ["bun", MAIN, cfg, "--log-format", "json", ...(mode === "--watch" ? ["--watch"] : [])];
      const proc = Bun.spawn(args, { stdout: "ignore", stderr: "pipe" });
      const signal = () => {
        if (mode === "SIGHUP") proc.kill("SIGHUP");
      };
      try {
        await until(async () => (await fetch(`http://127.0.0.1:${adminPort}/health`).catch(() => null))?.ok === true, 10_000);
        expect(await backendsOf(adminPort)).toEqual([`127.0.0.1:${a.port}`]);

        // A slow request is in flight on backend a while the config changes to b only.
        const slow = fetch(`http://127.0.0.1:${proxyPort}/slow/800`).then(async (r) => [r.status, await r.text()] as const);
        await until(() => (a.hits.get("/slow/800") ?? 0) > 0);
        writeFileSync(cfg, configText(proxyPort, adminPort, [b.port], 'response_timeout = "5s"'));
        signal();
        await until(async () => (await backendsOf(adminPort)).join() === `127.0.0.1:${b.port}`, 5000);
        const r = await fetch(`http://127.0.0.1:${proxyPort}/`);
        expect(r.headers.get("x-backend")).toBe("b");
        expect(await slow).toEqual([200, "slow 800ms from a\n"]);

        // A broken file is rejected with the same errors as at start; the running config stays.
        writeFileSync(cfg, configText(proxyPort, adminPort, [b.port]).replace('interval = "200ms"', 'interval = "soon"'));
        signal();
        await Bun.sleep(600);
        expect(await backendsOf(adminPort)).toEqual([`127.0.0.1:${b.port}`]);
        expect((await fetch(`http://127.0.0.1:${proxyPort}/`)).status).toBe(200);
      } finally {
        proc.kill("SIGTERM");
        await proc.exited;
        await a.stop();
        await b.stop();
      }
      const log = await new Response(proc.stderr).text();
      const lines = log.trim().split("\n").map((l) => JSON.parse(l) as { msg: string; error?: string });
      expect(lines.some((l) => l.msg === "config reloaded")).toBe(true);
      const rejected = lines.find((l) => l.msg.startsWith("config reload rejected"));
      expect(rejected?.error).toContain("health.interval");
    }, 30_000);
  }
});
