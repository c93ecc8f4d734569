// Key rotation node by node, with config reloads and no restart: the cluster never splits.
import { afterAll, expect, test } from "bun:test";
import type { Config } from "../../src/config/index.ts";
import { startBackend } from "../fixtures/backend.ts";
import { FAST_GOSSIP, startNode, until } from "../helpers/node.ts";

type Node = Awaited<ReturnType<typeof startNode>>;
const nodes: Node[] = [];
const backend = startBackend({ name: "kr" });
const OLD = "old passphrase";
const NEW = "base64:" + Buffer.alloc(32, 7).toString("base64");

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop(0)));
  await backend.stop();
});

function withKeys(n: Node, sharedKey: string, extraKeys: string[]): Config {
  return { ...n.config, cluster: { ...n.config.cluster, sharedKey, extraKeys } };
}

async function wholeFor(ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (const n of nodes) {
      const alive = n.cluster!.members().filter((m) => m.state === "alive").length;
      expect(alive).toBe(nodes.length);
    }
    await Bun.sleep(50);
  }
}

test("shared_key rotation with extra_keys, node by node, keeps one cluster; the old key is then refused", async () => {
  for (let i = 0; i < 3; i++) {
    const host = `127.0.0.${20 + i}`;
    nodes.push(
      await startNode({
        name: `k${i}`,
        bind: host,
        backends: [`127.0.0.1:${backend.port}`],
        cluster: `shared_key = "${OLD}"\n${i > 0 ? `peers = ["127.0.0.20:${nodes[0]!.cluster!.port}"]\n` : ""}${FAST_GOSSIP}`,
      }),
    );
  }
  await until(() => nodes.every((n) => n.cluster!.members().filter((m) => m.state === "alive").length === 3), 10_000);

  // 1. Every node learns the new key (still encrypting with the old one).
  for (const n of nodes) expect((await n.reload(withKeys(n, OLD, [NEW]))).applied).toContain("cluster.extra_keys");
  await wholeFor(800);
  // 2. Node by node, the new key becomes primary; the old one still decrypts.
  for (const n of nodes) {
    const r = await n.reload(withKeys(n, NEW, [OLD]));
    expect(r.applied).toContain("cluster.shared_key");
    expect(r.restartNeeded).toEqual([]);
    await wholeFor(800);
  }
  // 3. The old key is dropped everywhere.
  for (const n of nodes) await n.reload(withKeys(n, NEW, []));
  await wholeFor(1200);

  // A node that only knows the old key can no longer join; one with the new key can.
  const decryptDrops = () => nodes.slice(0, 3).reduce((a, n) => a + (n.cluster!.metrics().dropped.decrypt ?? 0), 0);
  const decryptBefore = decryptDrops();
  const stale = await startNode({
    name: "stale",
    bind: "127.0.0.23",
    backends: [`127.0.0.1:${backend.port}`],
    cluster: `shared_key = "${OLD}"\npeers = ["127.0.0.20:${nodes[0]!.cluster!.port}"]\n${FAST_GOSSIP}`,
  });
  const fresh = await startNode({
    name: "fresh",
    bind: "127.0.0.24",
    backends: [`127.0.0.1:${backend.port}`],
    cluster: `shared_key = "${NEW}"\npeers = ["127.0.0.20:${nodes[0]!.cluster!.port}"]\n${FAST_GOSSIP}`,
  });
  nodes.push(stale, fresh);
  await until(() => nodes[0]!.cluster!.members().some((m) => m.name === "fresh" && m.state === "alive"), 10_000);
  // The stale node's attempts reach the cluster and are refused as undecryptable (not lost for another reason)…
  await until(() => decryptDrops() > decryptBefore, 10_000);
  // …so it is nobody's member, and it sees nobody.
  for (const n of nodes.filter((x) => x !== stale)) expect(n.cluster!.members().some((m) => m.name === "stale")).toBe(false);
  expect(stale.cluster!.members().filter((m) => m.name !== "stale" && m.state === "alive")).toEqual([]);
}, 60_000);
