// deploy/systemd: the unit's invariants against the config it runs (the defaults `clusterclub init`
// writes), and `systemd-analyze verify` on the unit with its drop-in.
import { describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initConfig } from "../../src/cli/init.ts";
import { parseConfig } from "../../src/config/index.ts";
import { requirePrerequisite } from "../helpers/prereq.ts";

const DIR = join(import.meta.dir, "../../deploy/systemd");
const UNIT = join(DIR, "clusterclub.service");
const LOW_PORTS = join(DIR, "clusterclub.service.d/low-ports.conf");
/** Where the README installs the executable and the config. */
const BINARY = "/usr/local/bin/clusterclub";
const CONFIG = "/etc/clusterclub/config.toml";
/** Before draining, a stopping node waits up to 5 s for its leave to be gossiped (src/control/membership.ts). */
const LEAVE_MS = 5000;

/** [section] → key → values (a key may repeat); comments and blank lines dropped. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section = new Map<string, string[]>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const head = line.match(/^\[(.+)\]$/);
    if (head) {
      section = out.get(head[1]!) ?? new Map();
      out.set(head[1]!, section);
      continue;
    }
    const eq = line.indexOf("=");
    const [k, v] = [line.slice(0, eq), line.slice(eq + 1)];
    section.set(k, [...(section.get(k) ?? []), v]);
  }
  return out;
}

function seconds(v: string): number {
  const m = v.match(/^(\d+)(s|min)?$/);
  if (!m) throw new Error(`unexpected time span ${v}`);
  return Number(m[1]) * (m[2] === "min" ? 60 : 1);
}

const service = parseUnit(readFileSync(UNIT, "utf8")).get("Service")!;
const one = (k: string) => {
  const v = service.get(k);
  expect(v?.length).toBe(1);
  return v![0]!;
};
// What `clusterclub init` writes: every default the unit must fit.
const config = parseConfig(initConfig({ key: "k", nodeName: "n", backends: ["127.0.0.1:3000"], peers: [] }));

const analyze = Bun.which("systemd-analyze");
const noAnalyze = requirePrerequisite("systemd unit verification", analyze ? undefined : "systemd-analyze not found", "apt-get install systemd");

describe("deploy/systemd/clusterclub.service", () => {
  test("runs the installed executable on the config as a dedicated user; a config error is not retried", () => {
    expect(one("ExecStart")).toBe(`${BINARY} --log-format json ${CONFIG}`);
    expect(one("User")).toBe("clusterclub");
    expect(one("RestartPreventExitStatus")).toBe("2");
  });

  test("reload is SIGHUP, stop is SIGTERM with time for the leave and the drain", () => {
    expect(one("ExecReload")).toBe("/bin/kill -HUP $MAINPID");
    expect(one("KillSignal")).toBe("SIGTERM");
    expect(seconds(one("TimeoutStopSec")) * 1000).toBeGreaterThan(LEAVE_MS + config.proxy.drainTimeoutMs);
    expect(Number(one("LimitNOFILE"))).toBeGreaterThanOrEqual(65536);
  });

  test("sandboxed; CAP_NET_BIND_SERVICE only from the drop-in for ports below 1024", () => {
    expect(one("NoNewPrivileges")).toBe("yes");
    expect(one("ProtectSystem")).toBe("strict");
    expect(one("AmbientCapabilities")).toBe("");
    expect(one("CapabilityBoundingSet")).toBe("");
    // The unit's own config needs no privilege: every port it binds is 1024 or above.
    for (const port of [config.proxy.listenPort, config.cluster.listenPort, config.admin.listenPort]) expect(port).toBeGreaterThanOrEqual(1024);
    const drop = parseUnit(readFileSync(LOW_PORTS, "utf8")).get("Service")!;
    expect(drop.get("AmbientCapabilities")).toEqual(["CAP_NET_BIND_SERVICE"]);
    expect(drop.get("CapabilityBoundingSet")).toEqual(["CAP_NET_BIND_SERVICE"]);
  });

  test.skipIf(noAnalyze)("systemd-analyze verify: the unit and its drop-in, without a warning", () => {
    // verify insists that the executable exists: a stand-in takes the installed path's place.
    const dir = mkdtempSync(join(tmpdir(), "cc-systemd-"));
    const fake = join(dir, "clusterclub");
    writeFileSync(fake, "#!/bin/sh\n");
    chmodSync(fake, 0o755);
    writeFileSync(join(dir, "clusterclub.service"), readFileSync(UNIT, "utf8").replaceAll(BINARY, fake));
    mkdirSync(join(dir, "clusterclub.service.d"));
    copyFileSync(LOW_PORTS, join(dir, "clusterclub.service.d/low-ports.conf"));
    const r = Bun.spawnSync([analyze!, "verify", "--man=no", join(dir, "clusterclub.service")], { stdout: "pipe", stderr: "pipe" });
    expect(r.stderr.toString() + r.stdout.toString()).toBe("");
    expect(r.exitCode).toBe(0);
    // And it does notice a mistake.
    writeFileSync(join(dir, "clusterclub.service.d/typo.conf"), "[Service]\nLimitNOFILE=many\n");
    const bad = Bun.spawnSync([analyze!, "verify", "--man=no", join(dir, "clusterclub.service")], { stdout: "pipe", stderr: "pipe" });
    expect(bad.stderr.toString()).toContain("typo.conf");
  });
});
