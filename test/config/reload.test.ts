// The reload rule of each key comes from the schema: live keys take effect, the others keep their
// running value and are reported as needing a restart.
import { expect, test } from "bun:test";
import { parseConfig } from "../../src/config/index.ts";
import { diffConfig, settleReload } from "../../src/config/reload.ts";

const base = `[cluster]\nshared_key = "k1"\npeers = ["10.0.0.1:7946"]\n[proxy]\nlisten_port = 8080\n[[backends]]\naddress = "127.0.0.1:1"\n`;

test("live keys are applied, restart keys keep the running value, keyring keys follow the engine", () => {
  const prev = parseConfig(base);
  const next = parseConfig(
    base
      .replace('peers = ["10.0.0.1:7946"]', 'peers = ["10.0.0.2:7946"]\nprobe_interval = "2s"')
      .replace('shared_key = "k1"', 'shared_key = "k2"')
      .replace("listen_port = 8080", 'listen_port = 8081\nresponse_timeout = "5s"')
      .replace('address = "127.0.0.1:1"', 'address = "127.0.0.1:2"'),
  );
  const diff = diffConfig(prev, next);
  expect(diff).toEqual({
    live: ["cluster.peers", "proxy.response_timeout", "backends"],
    restart: ["cluster.probe_interval", "proxy.listen_port"],
    keyring: ["cluster.shared_key"],
  });

  const refused = settleReload(prev, next, diff, false);
  expect(refused.applied).toEqual(diff.live);
  expect(refused.restartNeeded).toEqual(["cluster.probe_interval", "proxy.listen_port", "cluster.shared_key"]);
  expect(refused.config.cluster).toEqual({ ...prev.cluster, peers: ["10.0.0.2:7946"] });
  expect(refused.config.proxy).toEqual({ ...prev.proxy, responseTimeoutMs: 5000 });
  expect(refused.config.backends).toEqual(next.backends);

  const rotated = settleReload(prev, next, diff, true);
  expect(rotated.applied).toContain("cluster.shared_key");
  expect(rotated.config.cluster.sharedKey).toBe("k2");
  expect(rotated.config.cluster.probeIntervalMs).toBe(prev.cluster.probeIntervalMs);
});

test("an unchanged config changes nothing", () => {
  const c = parseConfig(base);
  expect(diffConfig(c, parseConfig(base))).toEqual({ live: [], restart: [], keyring: [] });
});

test("the README's config table states each key's reload rule as the schema does", async () => {
  const { SCHEMA } = await import("../../src/config/schema.ts");
  const readme = await Bun.file(new URL("../../README.md", import.meta.url).pathname).text();
  const rows = readme.split("\n").filter((l) => l.startsWith("| `")).map((l) => l.split(" | "));
  for (const section of Object.values(SCHEMA)) {
    for (const f of Object.values(section.fields)) {
      const inRow = (cells: string[]) => cells[0]!.includes(`\`${section.key}.${f.key}\``) || (cells[0]!.includes(`\`${section.key}.`) && cells[0]!.includes(`\`${f.key}\``));
      const row = rows.find(inRow);
      expect(row, `${section.key}.${f.key} has a row`).toBeDefined();
      const stated = row![2]!.startsWith("live¹") ? "keyring" : row![2];
      expect(`${section.key}.${f.key}: ${stated}`).toBe(`${section.key}.${f.key}: ${f.reload}`);
    }
  }
});

test("--check output redacts exactly the keys the schema flags as secret", async () => {
  const { configToToml } = await import("../../src/config/index.ts");
  const c = parseConfig(base.replace('shared_key = "k1"', 'shared_key = "k1"\nextra_keys = ["k0", "k-1"]'));
  const toml = configToToml(c);
  expect(toml).toContain('shared_key = "<redacted>"');
  expect(toml).toContain('extra_keys = ["<redacted>","<redacted>"]');
  expect(toml).not.toMatch(/"k1"|"k0"|"k-1"/);
  expect(toml).toContain('peers = ["10.0.0.1:7946"]');
});
