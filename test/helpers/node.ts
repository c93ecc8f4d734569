// Starts a real node in this process on loopback ports picked by the kernel.
import { type Config, parseConfig } from "../../src/config/index.ts";
import { configureLogging } from "../../src/log.ts";
import { ClusterClubNode, type NodeOptions } from "../../src/node.ts";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";

configureLogging({ level: (process.env.CC_TEST_LOG as "debug" | undefined) ?? "error" });

export interface TestNodeOptions {
  backends: string[];
  /** Extra TOML appended to the generated [proxy]/[health] sections, e.g. 'response_timeout = "300ms"'. */
  proxy?: string;
  /** Replaces the default fast [health] settings (interval 100ms, rise 1, fall 1). */
  health?: string;
  name?: string;
  /** Address for proxy, admin and gossip (default 127.0.0.1). */
  bind?: string;
  /** Proxy worker processes (default 1: the proxy runs in this test process). */
  workers?: number;
  /** Extra TOML for [cluster], e.g. peers and fast timings. */
  cluster?: string;
  /** The gossip transport, e.g. faultyNetTransport (default: the engine's sockets). */
  gossipTransport?: NodeOptions["gossipTransport"];
  /** TOML tables appended after the backends, e.g. [[pools]] and [[routes]]. */
  tables?: string;
  /** Changes the parsed config before the node starts (for values the config file cannot express). */
  configure?: (c: Config) => void;
}

/**
 * CC_TEST_UPSTREAM_CLIENT=fetch runs every in-process node on the other upstream design, so both pass the
 * same tests (`.ci/run` runs the proxy suites that way too).
 */
const UPSTREAM_CLIENT = process.env.CC_TEST_UPSTREAM_CLIENT ? `upstream_client = "${process.env.CC_TEST_UPSTREAM_CLIENT}"` : "";

/** Gossip timings fast enough for tests (LAN defaults divided by ~10). */
export const FAST_GOSSIP = `probe_interval = "200ms"\nprobe_timeout = "80ms"\ngossip_interval = "30ms"\npushpull_interval = "2s"`;

export async function startNode(o: TestNodeOptions): Promise<ClusterClubNode & { url: string; adminUrl: string }> {
  const toml = `
[cluster]
node_name = "${o.name ?? "test-node"}"
listen_port = 0
bind_address = "${o.bind ?? "127.0.0.1"}"
${o.cluster ?? ""}
[proxy]
listen_port = 0
bind_address = "${o.bind ?? "127.0.0.1"}"
workers = ${o.workers ?? 1}
${UPSTREAM_CLIENT}
${o.proxy ?? ""}
[admin]
listen_port = 0
bind_address = "${o.bind ?? "127.0.0.1"}"
[health]
${o.health ?? 'interval = "100ms"\ntimeout = "100ms"\nrise = 1\nfall = 1'}
${o.backends.map((b) => `[[backends]]\naddress = "${b}"`).join("\n")}
${o.tables ?? ""}
`;
  const config = parseConfig(toml, "test");
  o.configure?.(config);
  const node = new ClusterClubNode(config, { gossipTransport: o.gossipTransport }) as ClusterClubNode & { url: string; adminUrl: string };
  await node.start();
  node.url = `http://${o.bind ?? "127.0.0.1"}:${node.proxy.port}`;
  node.adminUrl = `http://${o.bind ?? "127.0.0.1"}:${node.admin.port}`;
  return node;
}

export type TestNode = Awaited<ReturnType<typeof startNode>>;

export interface TwoBackendsOneNode {
  /** Backends named "a" and "b" (their `x-backend` header), in that order in the config. */
  a: BackendHandle;
  b: BackendHandle;
  node: TestNode;
  /** Stops the node (drain `drainMs`, default 0), then both backends (stopping one twice is fine). */
  stop(drainMs?: number): Promise<void>;
}

/** The most common setup: two local backends "a" and "b" behind one in-process node. */
export async function startTwoBackendsOneNode(o: Omit<TestNodeOptions, "backends"> = {}): Promise<TwoBackendsOneNode> {
  const a = startBackend({ name: "a" });
  const b = startBackend({ name: "b" });
  const node = await startNode({ ...o, backends: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`] });
  return {
    a,
    b,
    node,
    async stop(drainMs = 0) {
      await node.stop(drainMs);
      await a.stop();
      await b.stop();
    },
  };
}

/** A loopback port nothing listens on right now (bound then released): for a dead backend, or to bind next. */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

export const deadPort = freePort;

export { until } from "./wait.ts";
