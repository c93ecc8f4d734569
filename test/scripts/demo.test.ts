// `bun run demo --cluster`: three nodes on 127.0.0.2–4 (fixed ports, as the README shows them). Its logs
// are tagged by node, its banner says how to point members/status at a node, and Ctrl-C (SIGINT to the
// whole process group, as a terminal sends it) stops every node and removes the generated configs.
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { until } from "../helpers/node.ts";

const ROOT = join(import.meta.dir, "../..");
const MAIN = join(ROOT, "src/main.ts");

describe("demo --cluster", () => {
  test(
    "tagged logs, --admin hints, every node stopped on Ctrl-C, temp files removed",
    async () => {
      // detached: its own process group, which the test signals like a terminal's Ctrl-C.
      const demo = Bun.spawn(["bun", join(ROOT, "scripts/demo.ts"), "--cluster"], { cwd: ROOT, stdout: "pipe", stderr: "pipe", detached: true });
      let out = "";
      let err = "";
      const reading = Promise.all([
        (async () => {
          for await (const c of demo.stdout) out += new TextDecoder().decode(c);
        })(),
        (async () => {
          for await (const c of demo.stderr) err += new TextDecoder().decode(c);
        })(),
      ]);
      try {
        await until(() => out.includes("Ctrl-C to stop") || demo.exitCode !== null, 20_000);
        expect({ out, err, code: demo.exitCode }).toMatchObject({ out: expect.stringContaining("Ctrl-C to stop") });
        expect(out).toContain("members --admin 127.0.0.2:9901");
        const dir = out.match(/configs in (\S+)\)/)?.[1];
        expect(dir).toBeDefined();
        expect(existsSync(dir!)).toBe(true);
        // The banner's hint works.
        const members = Bun.spawnSync(["bun", MAIN, "members", "--admin", "127.0.0.2:9901"], { stdout: "pipe" });
        expect(members.exitCode).toBe(0);
        expect(members.stdout.toString()).toContain("node1 (self)");
        expect((await fetch("http://127.0.0.2:8080/")).status).toBe(200);

        process.kill(-demo.pid, "SIGINT");
        expect(await demo.exited).toBe(0);
        await reading;
        for (const n of ["node1", "node2", "node3"]) {
          expect(err).toMatch(new RegExp(`^${n} \\| .*\\[node\\] serving `, "m"));
          expect(err).toMatch(new RegExp(`^${n} \\| .*\\[node\\] stopped$`, "m"));
        }
        expect(err).not.toContain("leave broadcast not fully gossiped");
        expect(existsSync(dir!)).toBe(false);
      } finally {
        // The demo stops its nodes (their own process groups) on SIGTERM; kill it only if it does not.
        if (demo.exitCode === null) {
          demo.kill("SIGTERM");
          await Promise.race([demo.exited, Bun.sleep(10_000)]);
          if (demo.exitCode === null) process.kill(-demo.pid, "SIGKILL");
        }
      }
    },
    40_000,
  );
});
