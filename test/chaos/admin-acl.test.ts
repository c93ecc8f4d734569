// [admin] allow from other hosts: a node in its own network namespace binds the admin API to its lab
// address. With the default (loopback only) another host gets 403 on every path; with a range covering
// that host it gets 200, while hosts outside the range still get 403.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { until } from "../helpers/node.ts";
import { type Host, Lab, labAvailable } from "../cluster/multihost/lab.ts";
import { requirePrerequisite } from "../helpers/prereq.ts";
import { MAIN, summary } from "./helpers.ts";

const ADMIN_PORT = 9901;
const PATHS = ["/health", "/status", "/metrics", "/"];

const avail = labAvailable();
const noLab = requirePrerequisite("admin ACL lab test (test/admin/acl.test.ts still proves the deny path on loopback)", avail.ok ? undefined : avail.why);

describe.skipIf(noLab)("[admin] allow, from another host (network namespaces)", () => {
  let lab: Lab;
  let node: ReturnType<Lab["spawn"]> | undefined;
  const dir = mkdtempSync(join(tmpdir(), "cc-acl-"));
  let requests = 0;
  /** Answers that differed from what the ACL requires (the summary reports this, not a literal). */
  let wrong = 0;
  const expectStatuses = (got: number[], want: number[]) => {
    wrong += got.filter((s, i) => s !== want[i]).length + Math.abs(want.length - got.length);
    expect(got).toEqual(want);
  };

  beforeAll(() => {
    lab = Lab.create(1);
  });

  afterAll(async () => {
    await lab?.destroy();
  });

  /** Starts (or restarts) the node on h1 with this admin section; waits until its admin port answers. */
  async function startNode(admin: string): Promise<void> {
    if (node) {
      node.kill("SIGTERM");
      await node.exited;
    }
    const h1 = lab.hosts[0]!;
    const cfg = join(dir, `node-${Date.now()}.toml`);
    writeFileSync(
      cfg,
      `[cluster]\nnode_name = "acl"\nlisten_port = 7946\nbind_address = "${h1.ip}"\nadvertise_address = "${h1.ip}"\n` +
        `[proxy]\nlisten_port = 8080\nbind_address = "${h1.ip}"\nworkers = 1\n` +
        `[admin]\nlisten_port = ${ADMIN_PORT}\nbind_address = "${h1.ip}"\n${admin}\n` +
        `[[backends]]\naddress = "127.0.0.1:9"\n`,
    );
    node = lab.spawn(h1, ["bun", MAIN, cfg, "--log-level", "error"]);
    // Any answer (403 included) means the listener is up.
    await until(async () => (await fetch(`http://${h1.ip}:${ADMIN_PORT}/health`).catch(() => null)) !== null, 15_000, 100);
  }

  /** Status codes for PATHS, fetched from inside `from`'s namespace. */
  async function statusesFrom(from: Host): Promise<number[]> {
    const url = `http://${lab.hosts[0]!.ip}:${ADMIN_PORT}`;
    const script = `const out=[];for (const p of ${JSON.stringify(PATHS)}) { const r = await fetch(${JSON.stringify(url)} + p); await r.arrayBuffer(); out.push(r.status); } console.log(JSON.stringify(out));`;
    const p = lab.spawn(from, ["bun", "-e", script], { stdout: "pipe" });
    const out = await new Response(p.stdout as ReadableStream).text();
    await p.exited;
    requests += PATHS.length;
    return JSON.parse(out) as number[];
  }

  async function statusesFromController(): Promise<number[]> {
    const out: number[] = [];
    for (const p of PATHS) {
      const r = await fetch(`http://${lab.hosts[0]!.ip}:${ADMIN_PORT}${p}`);
      await r.arrayBuffer();
      out.push(r.status);
    }
    requests += PATHS.length;
    return out;
  }

  test("default (loopback only): another host gets 403 on every path", async () => {
    await startNode("");
    expectStatuses(await statusesFrom(lab.client), PATHS.map(() => 403));
    expectStatuses(await statusesFromController(), PATHS.map(() => 403));
  }, 30_000);

  test("allow covering the client: it gets 200, a host outside the range still gets 403", async () => {
    await startNode(`allow = ["127.0.0.0/8", "::1/128", "${lab.client.ip}/32"]`);
    expectStatuses(await statusesFrom(lab.client), PATHS.map(() => 200));
    expectStatuses(await statusesFromController(), PATHS.map(() => 403));
    node?.kill("SIGTERM");
    await node?.exited;
    summary({
      scenario: "admin ACL across hosts",
      load: `${requests} admin requests from 2 other hosts`,
      faults: "non-loopback admin access",
      sent: requests,
      failed: wrong,
      denied_by_default: "all",
      allowed_with_range: `${lab.client.ip}/32`,
    });
    expect(wrong).toBe(0); // including the first test's answers
  }, 30_000);
});
