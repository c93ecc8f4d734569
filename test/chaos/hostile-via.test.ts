// A client that forges a Via naming a cluster member only gives up balancing: its request is served
// by the node's own backends, and it gains no trust (its X-Forwarded-* and x-clusterclub-* headers are
// treated like any client's). Two nodes as their own processes on 127.0.0.2 and .3, each with a raw
// backend recording what it received; the client is 127.0.0.1, not a member.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { FAST_GOSSIP, until } from "../helpers/node.ts";
import { freePort, type NodeProcess, spawnNode, summary } from "./helpers.ts";
import { type RawBackend, type SeenRequest, startRawBackend } from "./rawbackend.ts";

const N = 24;
let ra: RawBackend;
let rb: RawBackend;
let a: NodeProcess;
let b: NodeProcess;

beforeAll(async () => {
  ra = startRawBackend();
  rb = startRawBackend();
  const gossipA = freePort("127.0.0.2");
  a = await spawnNode({ name: "node-a", bind: "127.0.0.2", gossipPort: gossipA, cluster: FAST_GOSSIP, backends: [`127.0.0.1:${ra.port}`] });
  b = await spawnNode({ name: "node-b", bind: "127.0.0.3", cluster: `peers = ["127.0.0.2:${gossipA}"]\n${FAST_GOSSIP}`, backends: [`127.0.0.1:${rb.port}`] });
  // A gives B weight 1 (its one healthy backend) once gossip has converged.
  await until(async () => {
    const s = (await (await fetch(`${a.adminUrl}/status`)).json()) as { members: { name: string; state: string; weight: number }[] };
    return s.members.some((m) => m.name === "node-b" && m.state === "alive" && m.weight === 1);
  }, 15_000, 100);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  ra?.stop();
  rb?.stop();
});

const header = (r: SeenRequest, name: string) => r.headers.filter(([n]) => n === name).map(([, v]) => v);

async function send(marker: string, extra: Record<string, string>): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < N; i++) {
    const r = await fetch(`${a.url}/${marker}/${i}`, { headers: { host: "app.example", ...extra } });
    await r.arrayBuffer();
    statuses.push(r.status);
  }
  return statuses;
}

test("without a Via, node A balances over both nodes' backends", async () => {
  expect(new Set(await send("p-balanced", {}))).toEqual(new Set([200]));
  expect(ra.find("/p-balanced/").length).toBeGreaterThan(0);
  expect(rb.find("/p-balanced/").length).toBeGreaterThan(0);
  expect(ra.find("/p-balanced/").length + rb.find("/p-balanced/").length).toBe(N);
});

test("regression: a forged Via naming a member made the node trust the client's X-Forwarded-Proto/Host and x-clusterclub-* headers", async () => {
  const statuses = await send("p-forged", {
    via: "1.1 node-b",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "bank.example",
    "x-forwarded-for": "10.0.0.66",
    "x-clusterclub-no-backend": "1",
  });
  expect(new Set(statuses)).toEqual(new Set([200]));
  // Only balancing is lost: every request is served by A's own backend, none goes on to B.
  expect(rb.find("/p-forged/")).toEqual([]);
  const seen = ra.find("/p-forged/");
  expect(seen.length).toBe(N);
  for (const r of seen) {
    expect(header(r, "x-forwarded-proto")).toEqual(["http"]);
    expect(header(r, "x-forwarded-host")).toEqual(["app.example"]);
    expect(header(r, "x-forwarded-for")).toEqual(["10.0.0.66, 127.0.0.1"]);
    expect(header(r, "x-clusterclub-no-backend")).toEqual([]);
    expect(header(r, "host")).toEqual(["app.example"]);
    expect(header(r, "via")).toEqual(["1.1 node-b, 1.1 node-a"]);
  }
  expect(ra.ambiguous).toEqual([]);
  expect(rb.ambiguous).toEqual([]);
  expect(a.proc.exitCode).toBeNull();
  summary({
    scenario: "forged Via naming a member",
    load: `${N} requests with a forged Via + forged X-Forwarded-*/x-clusterclub-*, ${N} without`,
    faults: "header forgery",
    sent: 2 * N,
    failed: statuses.filter((s) => s !== 200).length,
    forged_to_peer: rb.find("/p-forged/").length,
    forged_trusted_headers: seen.filter((r) => header(r, "x-forwarded-proto")[0] !== "http").length,
  });
});
