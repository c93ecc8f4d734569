// `bun run demo`: two demo backends on :3003 and :3004 and a node in front of them on :8080
// (config.example.toml), so a newcomer sees round-robin at once:  curl http://localhost:8080/
//
// `bun run demo --cluster`: a 3-node cluster on one machine serving two services. Nodes listen on
// 127.0.0.2, .3 and .4 (so a client on 127.0.0.1 is not mistaken for a member). "web" (the default pool)
// has backends on node1 (1) and node2 (2); "api" (/api/…, prefix stripped) on node2 (1) and node3 (2):
//   curl http://127.0.0.2:8080/       (any node; spread over web's 3 backends)
//   curl http://127.0.0.4:8080/api/   (any node; spread over api's 3 backends)
//   curl http://127.0.0.2:9901/status
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BackendHandle, startBackend } from "../test/fixtures/backend.ts";

const root = new URL("..", import.meta.url).pathname;
const main = `${root}src/main.ts`;
const cluster = process.argv.includes("--cluster");

const backends: BackendHandle[] = [];
const nodes: ReturnType<typeof Bun.spawn>[] = [];

function spawnNode(config: string) {
  const p = Bun.spawn(["bun", "run", main, config, "--log-format", "pretty"], { stdio: ["inherit", "inherit", "inherit"] });
  nodes.push(p);
  return p;
}

async function waitHealthy(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await fetch(url).catch(() => null))?.ok) return;
    await Bun.sleep(100);
  }
}

if (!cluster) {
  backends.push(startBackend({ port: 3003, name: "demo-a" }), startBackend({ port: 3004, name: "demo-b" }));
  console.log("demo backends on :3003 and :3004");
  spawnNode(`${root}config.example.toml`);
  await waitHealthy("http://127.0.0.1:9901/health");
  console.log(
    "\nClusterClub is up. Try:\n  curl http://localhost:8080/      (run it twice: demo-a, then demo-b)\n  curl http://localhost:9901/status\n  Ctrl-C to stop\n",
  );
} else {
  const dir = mkdtempSync(join(tmpdir(), "clusterclub-demo-"));
  // Backends per node and service: web is the default pool, api a named one.
  const layout = [
    { web: 1, api: 0 },
    { web: 2, api: 1 },
    { web: 0, api: 2 },
  ];
  for (let i = 0; i < 3; i++) {
    const ip = `127.0.0.${i + 2}`;
    let port = 3001;
    const own = (service: string, n: number) =>
      Array.from({ length: n }, (_, k) => startBackend({ hostname: ip, port: port++, name: `node${i + 1}-${service}${k + 1}` }));
    const web = own("web", layout[i]!.web);
    const api = own("api", layout[i]!.api);
    backends.push(...web, ...api);
    const cfg = join(dir, `node${i + 1}.toml`);
    writeFileSync(
      cfg,
      `[cluster]
node_name = "node${i + 1}"
bind_address = "${ip}"
advertise_address = "${ip}"
shared_key = "demo-cluster-key"
peers = ${JSON.stringify(i === 0 ? [] : ["127.0.0.2:7946"])}
[proxy]
bind_address = "${ip}"
listen_port = 8080
workers = 1
[admin]
bind_address = "${ip}"
listen_port = 9901
[health]
interval = "2s"
${web.length > 0 ? web.map((b) => `[[backends]]\naddress = "${ip}:${b.port}"`).join("\n") : `[[pools]]\nname = "default"   # no web backends here: other nodes serve it`}
[[pools]]
name = "api"
${api.map((b) => `[[pools.backends]]\naddress = "${ip}:${b.port}"`).join("\n")}
[[routes]]
path_prefix = "/api"
pool = "api"
strip_prefix = true
`,
    );
    spawnNode(cfg);
    await waitHealthy(`http://${ip}:9901/health`);
  }
  console.log(`
A 3-node ClusterClub cluster serving two services is up (configs in ${dir}):
  web (default pool)   node1 127.0.0.2: 1 backend   node2 127.0.0.3: 2 backends
  api (/api/…)         node2 127.0.0.3: 1 backend   node3 127.0.0.4: 2 backends
Try:
  for i in $(seq 6); do curl -s http://127.0.0.4:8080/; done      # web, from any node: its 3 backends
  for i in $(seq 6); do curl -s http://127.0.0.2:8080/api/; done  # api, from any node: its 3 backends
  curl http://127.0.0.3:9901/status                                # pools, members, healthy counts
  Ctrl-C to stop
`);
}

const stop = async () => {
  for (const n of nodes) n.kill("SIGTERM");
  await Promise.all(nodes.map((n) => n.exited));
  await Promise.all(backends.map((b) => b.stop()));
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
await Promise.race(nodes.map((n) => n.exited));
await stop();
