#!/usr/bin/env bun
// The CLI: `clusterclub [config.toml]`. Validates the config before binding anything
// (exit 2 on a bad config), then runs the node until SIGTERM/SIGINT.

import { defineCommand, runMain } from "citty";
import { runTool } from "./cli/tools.ts";
import { watchFile } from "./cli/watch.ts";
import { ConfigError, configToToml, loadConfig } from "./config/index.ts";
import { errorCode } from "./netutil.ts";
import { describeRoutes, fallbackPool, RouteTable } from "./routing/routes.ts";
import { configureLogging, isLogLevel, type LogFormat, log } from "./log.ts";
import { ClusterClubNode, type NodeOptions, VERSION } from "./node.ts";

export const EXIT_CONFIG = 2;

/** The node command; `nodeOptions` lets another entry point (a test harness) supply the node's seams. */
export const nodeCommand = (nodeOptions: NodeOptions = {}) =>
  defineCommand({
    meta: {
      name: "clusterclub",
      version: VERSION,
      description:
        "HTTP edge load balancer whose nodes form a cluster by gossip.\n\n" +
        "Examples:\n" +
        "  clusterclub config.toml                 run a node\n" +
        "  clusterclub --check config.toml         validate, print the resolved config, exit 0 or 2\n" +
        "  clusterclub --log-level debug cfg.toml  more detail (never per request at info)\n" +
        "  clusterclub --watch config.toml         reload when the file changes (kill -HUP always reloads)\n" +
        "  clusterclub keygen                      print a new cluster key\n" +
        "  clusterclub members [--admin H:P] [--json]   members a running node sees\n" +
        "  clusterclub status  [--admin H:P] [--json]   a running node's backends",
    },
    args: {
      config: { type: "positional", required: false, default: "config.toml", description: "path to the TOML config" },
      check: { type: "boolean", default: false, description: "validate the config, print it with defaults, and exit (0 valid, 2 invalid)" },
      "log-level": { type: "string", default: "info", description: "debug | info | warn | error" },
      "log-format": { type: "string", description: "pretty | json (default: pretty on a TTY, json otherwise)" },
      watch: { type: "boolean", default: false, description: "reload the config when the file changes (SIGHUP always reloads)" },
    },
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
      if (args.check) {
        const routes = new RouteTable(config.routes, fallbackPool(config.pools.map((p) => p.name)));
        process.stdout.write(`# ${args.config}: valid\n${configToToml(config)}${describeRoutes(routes)}`);
        return;
      }

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
  // Subcommands are dispatched by hand: citty would otherwise read a config path as a command name.
  if (!runTool(process.argv[2], process.argv.slice(3))) void runMain(nodeCommand());
}
