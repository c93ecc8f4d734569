// Regression (found by the partition chaos scenario): a request in flight on a pooled connection to a
// peer that goes silent waited for response_timeout and failed with 504, although nothing could come
// back and another node could serve it. Now a peer that stops being alive loses its pooled
// connections at once, and the (idempotent) request is retried on another node.
import { afterAll, expect, test } from "bun:test";
import { faultyNetTransport, setFaults } from "../helpers/faults.ts";
import { startBackend } from "../fixtures/backend.ts";
import { deadPort, FAST_GOSSIP, startNode, until } from "../helpers/node.ts";

const hung = Bun.serve({ hostname: "127.0.0.41", port: 0, fetch: () => new Promise<Response>(() => {}) });
const good = startBackend({ name: "good", hostname: "127.0.0.42" });
const nodes: Awaited<ReturnType<typeof startNode>>[] = [];

afterAll(async () => {
  setFaults(null);
  await Promise.all(nodes.map((n) => n.stop(0)));
  await hung.stop(true);
  await good.stop();
});

test("regression: a request waiting on a peer that becomes suspect is retried on another node, not held until 504", async () => {
  const a = await startNode({ name: "pa", bind: "127.0.0.40", backends: [`127.0.0.40:${deadPort()}`], proxy: 'response_timeout = "20s"', cluster: FAST_GOSSIP, gossipTransport: faultyNetTransport });
  const seed = `peers = ["127.0.0.40:${a.cluster!.port}"]\n${FAST_GOSSIP}`;
  const b = await startNode({ name: "pb", bind: "127.0.0.41", backends: [`127.0.0.41:${hung.port}`], cluster: seed, gossipTransport: faultyNetTransport });
  const c = await startNode({ name: "pc", bind: "127.0.0.42", backends: [`127.0.0.42:${good.port}`], cluster: seed, gossipTransport: faultyNetTransport });
  nodes.push(a, b, c);
  await until(() => a.router.snapshot.peers.length === 2, 10_000);

  // Requests through A go to B (hangs) or C (answers); find one that is stuck on B.
  const pending: Promise<[number, string | null, number]>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < 4; i++) {
    pending.push(fetch(`${a.url}/`).then(async (r) => [r.status, r.headers.get("x-backend"), performance.now() - t0] as [number, string | null, number]));
  }
  await Bun.sleep(300);
  // B goes silent for gossip: A and C suspect it and A drops its connections to B.
  setFaults({ partition: [["127.0.0.41"], ["127.0.0.40", "127.0.0.42"]] });
  const results = await Promise.all(pending);
  for (const [status, backend, ms] of results) {
    expect(status).toBe(200);
    expect(backend).toBe("good");
    expect(ms).toBeLessThan(10_000);
  }
}, 30_000);
