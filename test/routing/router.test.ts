import { describe, expect, test } from "bun:test";
import { type PoolRouter, Router, viaNames } from "../../src/routing/router.ts";
import type { PoolSnapshot, RoutingSnapshot } from "../../src/routing/snapshot.ts";

const localBackends = (n: number, healthy: number) =>
  Array.from({ length: n }, (_, i) => ({
    index: i,
    address: `127.0.0.1:${1000 + i}`,
    host: "127.0.0.1",
    port: 1000 + i,
    origin: `http://127.0.0.1:${1000 + i}`,
    healthy: i < healthy,
    weight: 1,
  }));

const ROUND_ROBIN = { balance: "round_robin", hashKey: null, hashKeyText: null } as const;

/** Self with `selfHealthy` healthy default-pool backends; peers with their default-pool weights. */
function snap(selfHealthy: number, peers: [string, number][], more: PoolSnapshot[] = []): RoutingSnapshot {
  return {
    version: 1,
    nodeName: "self",
    pools: [
      { name: "default", backends: localBackends(Math.max(selfHealthy, 1), selfHealthy), peers: peers.map(([, weight], peer) => ({ peer, weight })).filter((p) => p.weight > 0), ...ROUND_ROBIN },
      ...more,
    ],
    routes: [],
    fallbackPool: "default",
    peers: peers.map(([name], i) => ({
      name,
      address: `198.18.0.${i + 2}`,
      host: `198.18.0.${i + 2}`,
      port: 8080,
      proxyPort: 8080,
      origin: `http://198.18.0.${i + 2}:8080`,
    })),
    memberAddresses: peers.map((_, i) => `198.18.0.${i + 2}`),
    memberNames: ["self", ...peers.map(([n]) => n)],
    aliveAddresses: peers.map((_, i) => `198.18.0.${i + 2}`),
  };
}

const nameOf = (c: ReturnType<PoolRouter["pickNode"]>) => (c === undefined ? "none" : c === null ? "self" : c.name);
const dflt = (r: Router) => r.pool("default")!;

describe("router", () => {
  test("smooth weighted round-robin: 2:1:3 interleaves and matches weights exactly over a cycle", () => {
    const r = dflt(new Router(snap(2, [["b", 1], ["c", 3]])));
    const seq = Array.from({ length: 12 }, () => nameOf(r.pickNode()));
    const count = (n: string) => seq.filter((s) => s === n).length;
    expect([count("self"), count("b"), count("c")]).toEqual([4, 2, 6]);
    // Never a run longer than 2 of the same node (nginx's smooth WRR on 2:1:3 gives c,self,b,c,self,c).
    let run = 1;
    for (let i = 1; i < seq.length; i++) {
      run = seq[i] === seq[i - 1] ? run + 1 : 1;
      expect(run).toBeLessThanOrEqual(2);
    }
  });

  test("nodes with weight 0 get nothing; no weight anywhere gives undefined", () => {
    const r = dflt(new Router(snap(0, [["b", 0], ["c", 2]])));
    for (let i = 0; i < 5; i++) expect(nameOf(r.pickNode())).toBe("c");
    expect(dflt(new Router(snap(0, [["b", 0]]))).pickNode()).toBeUndefined();
  });

  test("excluded nodes are skipped", () => {
    const r = dflt(new Router(snap(1, [["b", 1]])));
    for (let i = 0; i < 4; i++) expect(nameOf(r.pickNode(new Set(["b"])))).toBe("self");
    expect(r.pickNode(new Set(["b", "self"]))).toBeUndefined();
  });

  test("backends round-robin over healthy ones only, skipping excluded", () => {
    const s = snap(3, []);
    s.pools[0]!.backends[1]!.healthy = false;
    const r = dflt(new Router(s));
    const seq = Array.from({ length: 4 }, () => r.pickBackend()!.index);
    expect(seq).toEqual([0, 2, 0, 2]);
    expect(r.pickBackend(new Set([0]))!.index).toBe(2);
    expect(r.pickBackend(new Set([0, 2]))).toBeUndefined();
  });

  test("each pool balances by its own weights: a node serving only one pool gets only that pool's requests", () => {
    // self: 1 default backend; b: default 1; c: api 3; self: api 1.
    const r = new Router(snap(1, [["b", 1], ["c", 0]], [{ name: "api", backends: localBackends(1, 1), peers: [{ peer: 1, weight: 3 }], ...ROUND_ROBIN }]));
    const api = Array.from({ length: 8 }, () => nameOf(r.pool("api")!.pickNode()));
    expect(api.filter((n) => n === "c").length).toBe(6);
    expect(api.filter((n) => n === "self").length).toBe(2);
    const def = Array.from({ length: 8 }, () => nameOf(dflt(r).pickNode()));
    expect(new Set(def)).toEqual(new Set(["self", "b"]));
    expect(r.pool("api")!.weightOf("c")).toBe(3);
    expect(dflt(r).weightOf("c")).toBe(0);
    expect(r.pool("web")).toBeUndefined();
  });

  test("a new snapshot keeps each node's credit in each pool (a change does not restart the cycle)", () => {
    const r = new Router(snap(1, [["b", 2]]));
    const first = Array.from({ length: 2 }, () => nameOf(dflt(r).pickNode()));
    r.install(snap(1, [["b", 2]]));
    const rest = Array.from({ length: 1 }, () => nameOf(dflt(r).pickNode()));
    const seq = [...first, ...rest];
    expect(seq.filter((n) => n === "b").length).toBe(2);
    expect(seq.filter((n) => n === "self").length).toBe(1);
  });

  test("requests from member addresses or carrying a member's Via are recognised", () => {
    const r = new Router(snap(1, [["node-b", 1]]));
    expect(r.isFromMember("198.18.0.2", null)).toBe(true);
    expect(r.isFromMember("203.0.113.9", null)).toBe(false);
    expect(r.isFromMember("127.0.0.1", "1.1 node-b")).toBe(true);
    expect(r.isFromMember("127.0.0.1", "1.0 squid, 1.1 node-b")).toBe(true);
    expect(r.isFromMember("127.0.0.1", "1.1 node-bb")).toBe(false);
    // Our own name in Via is not a member hop (a client cannot make us think we looped).
    expect(r.isFromMember("127.0.0.1", "1.1 self")).toBe(false);
  });

  test("viaNames matches whole tokens only", () => {
    expect(viaNames("1.1 a", "a")).toBe(true);
    expect(viaNames("1.1 ab", "a")).toBe(false);
    expect(viaNames("1.1 x, 1.1 a", "a")).toBe(true);
    expect(viaNames("1.1 a (comment)", "a")).toBe(true);
  });
});
