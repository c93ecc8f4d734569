// Operator subcommands: `keygen`, and `members` / `status`, which read a running node's admin API.

import { defineCommand, runMain } from "citty";
import type { StatusDoc } from "../admin/status.ts";
import { keygen } from "../cluster/index.ts";

const adminArgs = {
  admin: { type: "string", default: "127.0.0.1:9901", description: "admin API address of the node (host:port)" },
  json: { type: "boolean", default: false, description: "print the raw JSON" },
} as const;


async function fetchStatus(admin: string): Promise<StatusDoc> {
  const url = `http://${admin}/status`;
  let r: Response;
  try {
    r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  } catch (e) {
    throw new Error(`cannot reach the admin API at ${url}: ${(e as Error).message} (is the node running? --admin host:port)`);
  }
  if (!r.ok) throw new Error(`${url} answered ${r.status}`);
  return (await r.json()) as StatusDoc;
}

/** Left-aligned text table. */
export function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") + "\n";
}

function fail(e: unknown): never {
  console.error((e as Error).message);
  process.exit(1);
}

export const keygenCommand = defineCommand({
  meta: { name: "keygen", description: "print a new random cluster key (base64:<32 bytes>) for cluster.shared_key" },
  run() {
    process.stdout.write(`${keygen()}\n`);
  },
});

export const membersCommand = defineCommand({
  meta: { name: "members", description: "list the cluster members a running node sees" },
  args: adminArgs,
  async run({ args }) {
    const s = await fetchStatus(args.admin).catch(fail);
    if (args.json) return void process.stdout.write(JSON.stringify(s.members, null, 2) + "\n");
    process.stdout.write(
      table(
        ["NAME", "ADDRESS", "STATE", "HEALTHY", "WEIGHT", "PROXY PORT", "INCARNATION"],
        s.members.map((m) => [
          m.self ? `${m.name} (self)` : m.name,
          `${m.address}:${m.port}`,
          m.state,
          "invalid" in m.meta ? `invalid: ${m.meta.invalid}` : `${m.meta.healthy}${m.meta.pools > 0 ? ` +${m.meta.pools} pools` : ""}`,
          m.weight,
          "invalid" in m.meta ? "-" : m.meta.proxy_port,
          m.incarnation,
        ]),
      ),
    );
  },
});

export const statusCommand = defineCommand({
  meta: { name: "status", description: "show a running node's backends and health" },
  args: adminArgs,
  async run({ args }) {
    const s = await fetchStatus(args.admin).catch(fail);
    if (args.json) return void process.stdout.write(JSON.stringify(s, null, 2) + "\n");
    process.stdout.write(
      `node ${s.node}  version ${s.version}  up ${s.uptime_s}s  healthy backends ${s.healthy_backends}/${s.backends.length}  members ${s.members.length}\n\n`,
    );
    process.stdout.write(
      table(
        ["POOL", "BACKEND", "STATUS", "LAST CHECK", "FAILURES", "LAST ERROR"],
        s.backends.map((b) => [b.pool, b.address, b.status, b.last_check ?? "-", b.failures, b.last_error ?? ""]),
      ),
    );
    process.stdout.write(
      "\n" +
        table(
          ["POOL", "HEALTHY HERE", "IN THE CLUSTER", "BY MEMBER"],
          s.pools.map((p) => [
            p.name,
            `${p.healthy}/${p.backends}`,
            p.members.reduce((n, m) => n + m.healthy, 0),
            p.members.filter((m) => m.healthy > 0).map((m) => `${m.name}:${m.healthy}`).join(" ") || "-",
          ]),
        ),
    );
  },
});

/** Runs `name` as a subcommand if it is one; returns false otherwise. */
export function runTool(name: string | undefined, rawArgs: string[]): boolean {
  switch (name) {
    case "keygen":
      void runMain(keygenCommand, { rawArgs });
      return true;
    case "members":
      void runMain(membersCommand, { rawArgs });
      return true;
    case "status":
      void runMain(statusCommand, { rawArgs });
      return true;
    default:
      return false;
  }
}
