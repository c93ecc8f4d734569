// `bun run demo`: two demo backends on :3003 and :3004 and a node in front of them on :8080
// (config.example.toml), so a newcomer sees round-robin at once:  curl http://localhost:8080/
//
// `bun run demo --cluster`: a 3-node cluster on one machine serving two services. Nodes listen on
// 127.0.0.2, .3 and .4 (so a client on 127.0.0.1 is not mistaken for a member). "web" (the default pool)
// has backends on node1 (1) and node2 (2); "api" (/api/…, prefix stripped) on node2 (1) and node3 (2):
//   curl http://127.0.0.2:8080/       (any node; spread over web's 3 backends)
//   curl http://127.0.0.4:8080/api/   (any node; spread over api's 3 backends)
//   curl http://127.0.0.2:9901/status
//
// Each node's log lines are tagged with its name. Ctrl-C stops the nodes one after the other (each
// leaves a cluster whose other members still listen, so nobody waits for a leave to be acknowledged),
// then the backends, and removes the generated configs.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BackendHandle, startBackend } from "../test/fixtures/backend.ts";

const root = new URL("..", import.meta.url).pathname;
const main = `${root}src/main.ts`;
const cluster = process.argv.includes("--cluster");

const backends: BackendHandle[] = [];
const nodes: { name: string; proc: Bun.Subprocess<"ignore", "pipe", "pipe"> }[] = [];
let tempDir: string | undefined;

/** Copies a node's output line by line, each line tagged with the node's name. */
async function tagLines(name: string, from: ReadableStream<Uint8Array>, to: NodeJS.WriteStream): Promise<void> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of from) {
    const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) to.write(`${name} | ${line}\n`);
  }
  if (rest) to.write(`${name} | ${rest}\n`);
}

function spawnNode(name: string, config: string) {
  // Its own process group: Ctrl-C reaches only this script, which stops the nodes in order.
  const proc = Bun.spawn([process.execPath, main, config, "--log-format", "pretty"], { stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
  nodes.push({ name, proc });
  void tagLines(name, proc.stdout, process.stdout);
  void tagLines(name, proc.stderr, process.stderr);
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
  spawnNode("node", `${root}config.example.toml`);
  await waitHealthy("http://127.0.0.1:9901/health");
  console.log(
    "\nClusterClub is up. Try:\n  curl http://localhost:8080/      (run it twice: demo-a, then demo-b)\n  curl http://localhost:9901/status\n  bun src/main.ts status             (the same, as a table)\n  Ctrl-C to stop\n",
  );
} else {
  const dir = mkdtempSync(join(tmpdir(), "clusterclub-demo-"));
  tempDir = dir;
  // Backends per node and service: web is the default pool, api a named one.
  const layout = [
    { web: 1, api: 0 },
    { web: 2, api: 1 },
    { web: 0, api: 2 },
  ];
  for (let i = 0; i < 3; i++) {
    const ip = `127.0.0.${i + 2}`;
    // Backends on free ports (the generated configs name them), so the demo runs beside anything on 3001–3003.
    const own = (service: string, n: number) =>
      Array.from({ length: n }, (_, k) => startBackend({ hostname: ip, port: 0, name: `node${i + 1}-${service}${k + 1}` }));
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
    spawnNode(`node${i + 1}`, cfg);
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
  bun src/main.ts members --admin 127.0.0.2:9901                   # the members node1 sees
  bun src/main.ts status --admin 127.0.0.4:9901                    # node3's backends
  Ctrl-C to stop
`);
}

let stopping: Promise<void> | undefined;
/** Last node first, each after the previous one has exited; then the backends and the temp files. */
function stop(): Promise<void> {
  stopping ??= (async () => {
    for (const { proc } of nodes.toReversed()) {
      proc.kill("SIGTERM");
      await proc.exited;
    }
    await Promise.all(backends.map((b) => b.stop()));
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  })();
  return stopping;
}
process.on("SIGINT", () => void stop().then(() => process.exit(0)));
process.on("SIGTERM", () => void stop().then(() => process.exit(0)));
// Should this script die some other way, no node outlives it.
process.on("exit", () => {
  for (const { proc } of nodes) if (proc.exitCode === null) proc.kill("SIGKILL");
});
// A node that exits on its own (a port taken, a bad config) ends the demo.
const first = await Promise.race(nodes.map(async (n) => ({ name: n.name, code: await n.proc.exited })));
if (!stopping) console.error(`${first.name} exited with code ${first.code}; stopping the demo`);
await stop();
process.exit(first.code === 0 ? 0 : 1);
