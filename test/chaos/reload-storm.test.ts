// Config reloads under load: SIGHUPs every 150 ms alternating valid changes (a backend added, removed),
// broken TOML, an invalid value and a missing file, while normal clients send a steady load. No request
// fails, every broken file is rejected with the running config kept, and the last valid one is in force.
// (test/reload.test.ts covers the single-reload semantics; this is the storm.)
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";
import { until } from "../helpers/node.ts";
import { type NodeProcess, PROCS, spawnNode, summary, withNofile } from "./helpers.ts";

const RATE = 200;
const LOAD_MS = 4000;
const EVERY_MS = 150;

let a: BackendHandle;
let b: BackendHandle;
let node: NodeProcess;

beforeAll(async () => {
  a = startBackend({ name: "a" });
  b = startBackend({ name: "b" });
  node = await spawnNode({ backends: [`127.0.0.1:${a.port}`], health: 'interval = "100ms"\ntimeout = "100ms"\nrise = 1\nfall = 1' });
});

afterAll(async () => {
  await node?.stop();
  await a?.stop();
  await b?.stop();
});

async function healthyBackends(): Promise<string[]> {
  const s = (await (await fetch(`${node.adminUrl}/status`)).json()) as { backends: { address: string; healthy: boolean }[] };
  return s.backends.filter((x) => x.healthy).map((x) => x.address).sort();
}

test("a storm of good and broken reloads under steady load loses no request", async () => {
  const original = readFileSync(node.configPath, "utf8");
  const withBoth = `${original}\n[[backends]]\naddress = "127.0.0.1:${b.port}"\n`;
  const variants: [kind: string, text: string | null][] = [
    ["add b", withBoth],
    ["broken TOML", `${withBoth}\n[proxy\n`],
    ["remove b", original],
    ["invalid value", original.replace('interval = "100ms"', 'interval = "soon"')],
    ["add b", withBoth],
    ["missing file", null],
  ];
  const load = Bun.spawn(withNofile(["bun", `${PROCS}/steady.ts`, `${node.url}/`, String(LOAD_MS), String(RATE)]), { stdout: "pipe", stderr: "inherit" });
  let reloads = 0;
  let broken = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < LOAD_MS - 500) {
    const [kind, text] = variants[reloads % variants.length]!;
    if (text === null) renameSync(node.configPath, `${node.configPath}.gone`);
    else writeFileSync(node.configPath, text);
    node.proc.kill("SIGHUP");
    reloads++;
    if (kind === "broken TOML" || kind === "invalid value" || kind === "missing file") broken++;
    await Bun.sleep(EVERY_MS);
    if (text === null) renameSync(`${node.configPath}.gone`, node.configPath);
  }
  // End on a valid config with both backends.
  writeFileSync(node.configPath, withBoth);
  node.proc.kill("SIGHUP");
  reloads++;
  const steady = JSON.parse(await new Response(load.stdout).text()) as { sent: number; failed: number; skipped: number; statuses: Record<string, number>; errors: string[]; p99: number };

  await until(async () => (await healthyBackends()).length === 2, 5000);
  expect(await healthyBackends()).toEqual([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`].sort());
  expect(steady.errors).toEqual([]);
  expect(steady.failed).toBe(0);
  expect(node.proc.exitCode).toBeNull();
  const rejected = node.log().split("\n").filter((l) => l.includes("config reload rejected")).length;
  // Signals sent close together may coalesce, so at most one rejection per broken file, and at least one.
  expect(rejected).toBeGreaterThan(0);
  expect(rejected).toBeLessThanOrEqual(broken);
  summary({
    scenario: "reload storm under load",
    load: `${RATE} req/s for ${LOAD_MS / 1000}s`,
    faults: `${reloads} SIGHUPs every ${EVERY_MS}ms (${broken} broken: TOML syntax, invalid value, missing file)`,
    sent: steady.sent,
    failed: steady.failed,
    rejected_reloads: rejected,
    p99_ms: steady.p99,
    skipped: steady.skipped,
    served_by_b: b.total,
  });
}, 30_000);
