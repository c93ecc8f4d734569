#!/usr/bin/env bun
// The CLI: `clusterclub [config.toml]` and its subcommands (src/cli). Validates the config before binding anything
// (exit 2 on a bad config), then runs the node until SIGTERM/SIGINT.

import { resolve } from "node:path";
import { defineCommand } from "citty";
import { runTool, TOOL_COMMANDS } from "./cli/tools.ts";
import { type Help, runCommand } from "./cli/usage.ts";
import { watchFile } from "./cli/watch.ts";
import { ConfigError, configToToml, loadConfig } from "./config/index.ts";
import { configWarnings } from "./config/warnings.ts";
import { programName } from "./executable.ts";
import { errorCode } from "./netutil.ts";
import { describeRoutes, fallbackPool, RouteTable } from "./routing/routes.ts";
import { configureLogging, isLogLevel, type LogFormat, log } from "./log.ts";
import { ClusterClubNode, type NodeOptions, VERSION } from "./node.ts";
import { PROXY_WORKER_ARG } from "./workers/pool.ts";

export const EXIT_CONFIG = 2;

const NODE_ARGS = {
  config: { type: "positional", required: false, default: "config.toml", description: "path to the TOML config" },
  check: { type: "boolean", default: false, description: "validate the config, print it with defaults, and exit (0 valid, 2 invalid)" },
  "log-level": { type: "string", default: "info", valueHint: "LEVEL", description: "debug | info | warn | error" },
  "log-format": { type: "string", valueHint: "FORMAT", description: "pretty | json (default: pretty on a terminal, json otherwise)" },
  watch: { type: "boolean", default: false, description: "reload the config when the file changes (SIGHUP always reloads)" },
} as const;

const NODE_HELP: Help = {
  summary:
    `ClusterClub ${VERSION}: HTTP edge load balancer whose nodes form a cluster by gossip.\n` +
    "Clients speak HTTP/1.1 or HTTP/2 ([proxy] http2, on by default) and, opt-in, HTTP/3 ([proxy.tls] http3); backends HTTP/1.1.",
  commands: TOOL_COMMANDS,
  examples: [
    ["init --backend 127.0.0.1:3000", "write config.toml for an app on port 3000"],
    ["config.toml", "run a node"],
    ["--check config.toml", "validate, print the resolved config, exit 0 or 2"],
    ["--log-level debug config.toml", "more detail (never per request at info)"],
    ["--watch config.toml", "reload when the file changes (kill -HUP always reloads)"],
    ["config.toml  # then kill -USR1 <pid>", "reopen the access log file ([log] access) after logrotate moved it"],
  ],
};

/** What to do when the config file is not there. */
function missingConfig(path: string): string {
  const p = programName();
  const out = path === "config.toml" ? "" : ` --output ${path}`;
  const [init, copy] = [`${p} init${out} --backend 127.0.0.1:3000`, `cp config.example.toml ${path}`];
  const w = Math.max(init.length, copy.length);
  return (
    `no config file at ${path} (${resolve(path)}). Create one, either:\n` +
    `  ${init.padEnd(w)}   # commented, with a new cluster key, in front of your app on :3000\n` +
    `  ${copy.padEnd(w)}   # the repository's example (demo backends on :3003 and :3004)\n` +
    `then run: ${p} ${path}`
  );
}

/** The node command; `nodeOptions` lets another entry point (a test harness) supply the node's seams. */
export const nodeCommand = (nodeOptions: NodeOptions = {}) =>
  defineCommand({
    meta: { name: "clusterclub", version: VERSION, description: NODE_HELP.summary },
    args: NODE_ARGS,
    async run({ args }) {
      const level = args["log-level"];
      if (!isLogLevel(level)) {
        console.error(`--log-level: "${level}" is not one of debug, info, warn, error`);
        process.exit(EXIT_CONFIG);
      }
      const format = args["log-format"];
      if (format !== undefined && format !== "pretty" && format !== "json") {
        console.error(`--log-format: "${format}" is not one of pretty, json`);
        process.exit(EXIT_CONFIG);
      }
      configureLogging({ level, format: format as LogFormat | undefined });

      if (!(await Bun.file(args.config).exists())) {
        console.error(missingConfig(args.config));
        process.exit(EXIT_CONFIG);
      }
      let config;
      try {
        config = await loadConfig(args.config);
      } catch (e) {
        if (e instanceof ConfigError) {
          console.error(e.message);
          process.exit(EXIT_CONFIG);
        }
        throw e;
      }
      const warnings = configWarnings(config);
      if (args.check) {
        for (const w of warnings) console.error(`warning: ${w.path}: ${w.message}`);
        const routes = new RouteTable(config.routes, fallbackPool(config.pools.map((p) => p.name)));
        process.stdout.write(`# ${args.config}: valid\n${configToToml(config)}${describeRoutes(routes)}`);
        return;
      }
      for (const w of warnings) log.warn(`${w.path} ${w.message}`);

      const node = new ClusterClubNode(config, nodeOptions);
      const shutdown = (signal: string) => {
        log.info("signal received, shutting down", { signal });
        node.stop().then(
          () => process.exit(0),
          (e) => {
            log.error("shutdown failed", { error: e });
            process.exit(1);
          },
        );
      };
      const reload = async (why: string) => {
        try {
          const next = await loadConfig(args.config);
          await node.reload(next);
        } catch (e) {
          // A broken file never replaces the running config.
          log.error("config reload rejected; the running config stays in force", {
            trigger: why,
            error: e instanceof ConfigError ? e.issues.map((i) => `${i.path ? `${i.path}: ` : ""}${i.message}`).join("; ") : e,
          });
        }
      };
      process.on("SIGHUP", () => void reload("SIGHUP"));
      process.on("SIGUSR1", () => node.reopenLogs());
      if (args.watch) watchFile(args.config, () => void reload("watch"));
      process.once("SIGTERM", () => shutdown("SIGTERM"));
      process.once("SIGINT", () => shutdown("SIGINT"));
      try {
        await node.start();
      } catch (e) {
        log.error("failed to start", { error: e, code: errorCode(e) });
        await node.stop(0).catch(() => {});
        process.exit(1);
      }
    },
  });

if (import.meta.main) {
  const [first, ...rest] = process.argv.slice(2);
  // A proxy worker of a compiled executable, started by its primary (src/workers/pool.ts).
  if (first === PROXY_WORKER_ARG) await import("./workers/worker.ts");
  // Subcommands are dispatched by hand: citty would otherwise read a config path as a command name.
  else if (!runTool(first, rest)) void runCommand(nodeCommand(), NODE_ARGS, NODE_HELP, process.argv.slice(2));
}
