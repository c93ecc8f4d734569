// Operator subcommands: `init`, `keygen`, and `members` / `status`, which read a running node's admin API.

import { defineCommand } from "citty";
import type { StatusDoc } from "../admin/status.ts";
import { keygen } from "../cluster/index.ts";
import { programName } from "../executable.ts";
import { errorCodeOrMessage } from "../netutil.ts";
import { runInit } from "./init.ts";
import { type Help, runCommand } from "./usage.ts";

const adminArgs = {
  admin: { type: "string", default: "127.0.0.1:9901", valueHint: "HOST:PORT", description: "admin API address of the node ([admin] bind_address:listen_port)" },
  json: { type: "boolean", default: false, description: "print the raw JSON" },
} as const;

const initArgs = {
  backend: { type: "string", valueHint: "HOST:PORT", description: "your app's address; repeat for more backends (at least one)" },
  peer: { type: "string", valueHint: "HOST:PORT", description: "another node of the cluster (its gossip port, 7946); repeat for more" },
  output: { type: "string", default: "config.toml", valueHint: "FILE", description: "where to write; an existing file is never overwritten" },
} as const;

/** The subcommands, for the node command's help. */
export const TOOL_COMMANDS: [string, string][] = [
  ["init --backend HOST:PORT", "write a commented config.toml with a new cluster key"],
  ["keygen", "print a new cluster key"],
  ["members [--admin HOST:PORT]", "the cluster members a running node sees"],
  ["status [--admin HOST:PORT]", "a running node's backends and health"],
];

async function fetchStatus(admin: string, cmd: string): Promise<StatusDoc> {
  const url = `http://${admin}/status`;
  let r: Response;
  try {
    r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  } catch (e) {
    throw new Error(
      `cannot reach the admin API at ${url} (${errorCodeOrMessage(e)}). Is the node running, and is this its admin address? ` +
        `Pass the [admin] bind_address:listen_port of its config, e.g. ${programName()} ${cmd} --admin 127.0.0.2:9901 for the cluster demo's node1.`,
    );
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

/** Who serves the proxy port: the node's own process, or its workers with their restarts. */
function workersLine(s: StatusDoc): string {
  if (s.workers.length === 1 && s.workers[0]!.pid === s.pid) return "in the node's own process";
  const restarts = s.workers.reduce((a, w) => a + w.restarts, 0);
  return `${s.workers.length} worker processes (${s.workers.map((w) => w.pid ?? "restarting").join(", ")}), ${restarts} restarts`;
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

export const initCommand = defineCommand({
  meta: { name: "init", description: "write a commented config.toml for this host" },
  args: initArgs,
  run({ args, rawArgs }) {
    const code = runInit(rawArgs, args.output);
    if (code !== 0) process.exit(code);
  },
});

export const membersCommand = defineCommand({
  meta: { name: "members", description: "list the cluster members a running node sees" },
  args: adminArgs,
  async run({ args }) {
    const s = await fetchStatus(args.admin, "members").catch(fail);
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
    const s = await fetchStatus(args.admin, "status").catch(fail);
    if (args.json) return void process.stdout.write(JSON.stringify(s, null, 2) + "\n");
    process.stdout.write(
      `node ${s.node}  version ${s.version}  pid ${s.pid}  up ${s.uptime_s}s  healthy backends ${s.healthy_backends}/${s.backends.length}  members ${s.members.length}\n` +
        `proxy ${workersLine(s)}\n\n`,
    );
    process.stdout.write(
      table(
        ["POOL", "BACKEND", "STATUS", "WEIGHT", "LAST CHECK", "LAST STATUS", "FAILURES", "LAST ERROR"],
        s.backends.map((b) => [b.pool, b.address, b.ejected ? `${b.status} (ejected)` : b.status, b.weight, b.last_check ?? "-", b.last_status ?? "-", b.failures, b.last_error ?? ""]),
      ),
    );
    process.stdout.write(
      "\n" +
        table(
          ["POOL", "BALANCE", "HEALTHY HERE", "IN THE CLUSTER", "BY MEMBER"],
          s.pools.map((p) => [
            p.name,
            p.hash_key ? `${p.balance} (${p.hash_key})` : p.balance,
            `${p.healthy}/${p.backends}`,
            p.members.reduce((n, m) => n + m.healthy, 0),
            p.members.filter((m) => m.healthy > 0).map((m) => `${m.name}:${m.healthy}`).join(" ") || "-",
          ]),
        ),
    );
  },
});

const HELP = {
  init: {
    command: "init",
    summary: "Write a commented config.toml for this host: a new cluster key, the hostname as node_name, your app's backends.",
    examples: [
      ["init --backend 127.0.0.1:3000", "one app instance on this host"],
      ["init --backend 10.0.0.5:3000 --backend 10.0.0.6:3000 --peer edge-1.internal:7946", "two backends, joining edge-1"],
    ],
  },
  keygen: { command: "keygen", summary: "Print a new random cluster key (base64:<32 bytes>) for cluster.shared_key." },
  members: { command: "members", summary: "List the cluster members a running node sees (reads its admin API)." },
  status: { command: "status", summary: "Show a running node's backends and health (reads its admin API)." },
} satisfies Record<string, Help>;

/** Runs `name` as a subcommand if it is one; returns false otherwise. */
export function runTool(name: string | undefined, rawArgs: string[]): boolean {
  switch (name) {
    case "init":
      void runCommand(initCommand, initArgs, HELP.init, rawArgs);
      return true;
    case "keygen":
      void runCommand(keygenCommand, {}, HELP.keygen, rawArgs);
      return true;
    case "members":
      void runCommand(membersCommand, adminArgs, HELP.members, rawArgs);
      return true;
    case "status":
      void runCommand(statusCommand, adminArgs, HELP.status, rawArgs);
      return true;
    default:
      return false;
  }
}
