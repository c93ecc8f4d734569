// Starting the things under test: the two backends and each proxy, configured from bench/*.tmpl.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { BenchError, type Child, type Children } from "./procs.ts";

const BENCH_DIR = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
export const REPO_DIR = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

export interface Target {
  name: string;
  port: number;
  /** Process whose tree is billed for CPU and RSS; null for `direct` (no proxy in the path). */
  child: Child | null;
}

export interface Ports {
  b1: number;
  b2: number;
}

/** A loopback port free for TCP and UDP right now (the cluster listener needs both). */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = l.port;
    l.stop(true);
    try {
      const u = await Bun.udpSocket({ hostname: "127.0.0.1", port });
      u.close();
      return port;
    } catch {
      // UDP side taken: try another
    }
  }
  throw new BenchError("harness", "no free loopback port found");
}

function render(template: string, vars: Record<string, string | number>, out: string): string {
  let text = readFileSync(`${BENCH_DIR}/${template}`, "utf8");
  for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`{{${k}}}`, String(v));
  const left = /\{\{[A-Z_0-9]+\}\}/.exec(text);
  if (left) throw new BenchError("harness", `${template}: no value for ${left[0]}`);
  writeFileSync(out, text);
  return out;
}

/** Poll GET url until it answers 200 with the expected body length; fail early if the process died. */
export async function waitReady(
  label: string, url: string, expectLen: number, child: Child | null, children: Children, timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = "no answer";
  while (performance.now() < deadline) {
    if (child && (child.proc.exitCode !== null || child.proc.signalCode !== null)) {
      throw new BenchError(label, `exited (${child.proc.exitCode ?? child.proc.signalCode}) before answering:\n${children.tail(child)}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      const body = await res.arrayBuffer();
      if (res.status === 200 && body.byteLength === expectLen) return;
      last = `HTTP ${res.status}, ${body.byteLength} bytes`;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await Bun.sleep(100);
  }
  throw new BenchError(label, `not answering ${url} after ${timeoutMs} ms (last: ${last})${child ? `:\n${children.tail(child)}` : ""}`);
}

export async function startBackends(children: Children): Promise<{ ports: Ports; procs: Child[] }> {
  const b1 = await freePort();
  const b2 = await freePort();
  const procs = [b1, b2].map((p, i) => children.spawn(`backend${i + 1}`, ["bun", `${BENCH_DIR}/backend.ts`, String(p)]));
  await Promise.all([b1, b2].map((p, i) => waitReady(`backend${i + 1}`, `http://127.0.0.1:${p}/small`, 15, procs[i], children, 15_000)));
  return { ports: { b1, b2 }, procs };
}

/** Target names: "nginx" is one worker, "nginx2" two (likewise haproxy threads, clusterclub workers). */
function withProcs(name: string, procs: number): string {
  return procs === 1 ? name : `${name}${procs}`;
}

/**
 * nginx-log's access log: the fields of ClusterClub's JSON line, buffered as ClusterClub buffers (64 KiB,
 * 100 ms), to a file in the bench's temp dir, so the two loggers' costs compare on the same disk.
 */
const NGINX_ACCESS_LOG = (dir: string) => `  log_format cc escape=json '{"time":"$time_iso8601","client_ip":"$remote_addr","method":"$request_method",'
    '"path":"$request_uri","protocol":"$server_protocol","status":$status,"bytes_in":$request_length,'
    '"bytes_out":$body_bytes_sent,"duration_ms":$request_time,"pool":"default","node":"$hostname",'
    '"backend":"$upstream_addr","attempts":1,"request_id":"$request_id"}';
  access_log ${dir}/access.log cc buffer=64k flush=100ms;`;

export async function startNginx(children: Children, ports: Ports, workers = 1, accessLog = false): Promise<Target> {
  const name = accessLog ? "nginx-log" : withProcs("nginx", workers);
  const port = await freePort();
  const dir = `${children.dir}/${name}`;
  mkdirSync(dir, { recursive: true });
  const user = process.getuid?.() === 0 ? "user root;" : "";
  const conf = render("nginx.conf.tmpl", { USER: user, DIR: dir, PORT: port, B1: ports.b1, B2: ports.b2, WORKERS: workers, ACCESS_LOG: accessLog ? NGINX_ACCESS_LOG(dir) : "  access_log off;" }, `${dir}/nginx.conf`);
  const child = children.spawn(name, ["nginx", "-c", conf, "-p", dir, "-e", `${dir}/nginx-error.log`]);
  await waitReady(name, `http://127.0.0.1:${port}/small`, 15, child, children, 15_000);
  return { name, port, child };
}

export async function startHaproxy(children: Children, ports: Ports, threads = 1): Promise<Target> {
  const name = withProcs("haproxy", threads);
  const port = await freePort();
  const cfg = render("haproxy.cfg.tmpl", { PORT: port, B1: ports.b1, B2: ports.b2, THREADS: threads }, `${children.dir}/${name}.cfg`);
  const child = children.spawn(name, ["haproxy", "-db", "-f", cfg]);
  await waitReady(name, `http://127.0.0.1:${port}/small`, 15, child, children, 15_000);
  return { name, port, child };
}

async function writeNodeConfig(children: Children, ports: Ports, name: string, workers = 1, extraToml = ""): Promise<{ port: number; config: string }> {
  const port = await freePort();
  const vars = { PORT: port, CLUSTER_PORT: await freePort(), ADMIN_PORT: await freePort(), B1: ports.b1, B2: ports.b2, WORKERS: workers };
  const config = render("clusterclub.toml.tmpl", vars, `${children.dir}/${name}.toml`);
  if (extraToml !== "") writeFileSync(config, `${readFileSync(config, "utf8")}\n${extraToml}\n`);
  return { port, config };
}

/** ClusterClub variants: the same node with one feature on, named `clusterclub-<variant>`. */
export const CC_VARIANTS: Record<string, (dir: string) => string> = {
  // The access log on, JSON lines to a file in the bench's temp dir.
  log: (dir) => `[log]\naccess = "${dir}/access.log"\naccess_format = "json"`,
};

/** The plain Bun.serve+fetch proxy: a reference for what the runtime alone costs. */
export async function startPlain(children: Children, ports: Ports): Promise<Target> {
  const { port, config } = await writeNodeConfig(children, ports, "plain");
  const child = children.spawn("plain", ["bun", `${BENCH_DIR}/plain-proxy.ts`, config]);
  await waitReady("plain", `http://127.0.0.1:${port}/small`, 15, child, children, 15_000);
  return { name: "plain", port, child };
}

/** The Node.js peers (bench/peers, npm-installed by run.sh): what a user might run instead of ClusterClub. */
export const NODE_PEERS: Record<string, string> = {
  nodehttpproxy: "node-http-proxy.mjs", // Node.js + http-proxy-3, keep-alive http.Agent
  fastify: "fastify-proxy.mjs", // Node.js + Fastify + @fastify/http-proxy (reply-from over undici)
};

/** A Node.js peer, one process (no cluster module), reading the same config as `plain`. */
export async function startNodePeer(children: Children, ports: Ports, name: string): Promise<Target> {
  const script = NODE_PEERS[name];
  if (!script) throw new BenchError("harness", `no Node.js peer called ${name}`);
  if (!existsSync(`${BENCH_DIR}/peers/node_modules`)) {
    throw new BenchError(name, "bench/peers/node_modules is missing: run `npm ci --prefix bench/peers` (bench/run.sh does)");
  }
  const { port, config } = await writeNodeConfig(children, ports, name);
  const child = children.spawn(name, ["node", `${BENCH_DIR}/peers/${script}`, config], { NODE_ENV: "production" });
  await waitReady(name, `http://127.0.0.1:${port}/small`, 15, child, children, 15_000);
  return { name, port, child };
}

/** Versions for the header line: node and the peers' packages as installed in bench/peers/node_modules. */
export function nodePeerVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  const r = Bun.spawnSync(["node", "--version"]);
  out.node = r.success ? r.stdout.toString().trim().replace(/^v/, "") : "?";
  for (const pkg of ["http-proxy-3", "fastify", "@fastify/http-proxy", "@fastify/reply-from", "undici"]) {
    try {
      out[pkg] = (JSON.parse(readFileSync(`${BENCH_DIR}/peers/node_modules/${pkg}/package.json`, "utf8")) as { version: string }).version;
    } catch {
      out[pkg] = "?";
    }
  }
  return out;
}

/**
 * ClusterClub: `bun run src/main.ts <config>`, or CC_CMD (a shell command; `{config}` and `{port}` are
 * substituted, otherwise the config path is appended). Returns a reason string instead of a target when it
 * cannot be benchmarked, so the other columns still run.
 */
export async function startClusterClub(
  children: Children, ports: Ports, ccCmd: string | undefined, readyMs: number, workers = 1, variant?: string,
): Promise<Target | string> {
  const name = variant === undefined ? withProcs("clusterclub", workers) : `clusterclub-${variant}`;
  const extra = variant === undefined ? "" : (CC_VARIANTS[variant]?.(children.dir) ?? "");
  const { port, config } = await writeNodeConfig(children, ports, name, workers, extra);
  let cmd: string[];
  if (ccCmd) {
    const line = ccCmd.includes("{config}") || ccCmd.includes("{port}")
      ? ccCmd.replaceAll("{config}", config).replaceAll("{port}", String(port))
      : `${ccCmd} ${config}`;
    cmd = ["bash", "-c", `exec ${line}`];
  } else {
    if (!existsSync(`${REPO_DIR}/src/main.ts`)) return "src/main.ts does not exist yet";
    cmd = ["bun", "run", `${REPO_DIR}/src/main.ts`, config];
  }
  const child = children.spawn(name, cmd, { CC_PROXY_PORT: String(port), CC_CONFIG: config });
  try {
    await waitReady(name, `http://127.0.0.1:${port}/small`, 15, child, children, readyMs);
  } catch (e) {
    if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill("SIGKILL");
    return `${cmd.join(" ")} did not serve: ${e instanceof Error ? e.message : String(e)}`;
  }
  return { name, port, child };
}
