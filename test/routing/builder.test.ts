import { describe, expect, test } from "bun:test";
import type { Member } from "../../src/cluster/memberlist.ts";
import { encodeNodeMeta, poolId } from "../../src/control/nodemeta.ts";
import { type BackendHealth, initialHealth } from "../../src/health/checker.ts";
import { buildSnapshot } from "../../src/routing/builder.ts";

function member(name: string, address: string, state: Member["state"], healthy: number | Uint8Array, port = 8080, pools: [string, number][] = []): Member {
  const meta = healthy instanceof Uint8Array ? healthy : encodeNodeMeta({ healthy, proxyPort: port, pools: new Map(pools.map(([n, c]) => [poolId(n), c])) });
  return { name, address, port: 7946, state, incarnation: 1, meta, stateChangedAt: 0 };
}

const backend = (address: string, status: BackendHealth["status"]): BackendHealth => {
  const [host, port] = address.split(":");
  return { ...initialHealth({ address, host: host!, port: Number(port), weight: 1 }, "default"), status };
};

describe("snapshot builder", () => {
  test("alive peers with healthy backends get their published weight and proxy port", () => {
    const invalid: string[] = [];
    const s = buildSnapshot({
      version: 7,
      nodeName: "a",
      pools: [{ name: "default", backends: [backend("127.0.0.1:3001", "up"), backend("127.0.0.1:3002", "down")] }],
      routes: [],
      members: [
        member("a", "198.18.0.11", "alive", 1),
        member("b", "198.18.0.12", "alive", 2, 9090),
        member("c", "198.18.0.13", "suspect", 3),
        member("d", "198.18.0.14", "dead", 3),
        member("e", "198.18.0.15", "alive", 0),
        member("f", "198.18.0.16", "left", 3),
        member("g", "198.18.0.17", "alive", new TextEncoder().encode("not ours")),
      ],
      onInvalidMeta: (m) => invalid.push(m.name),
    });
    expect(s.version).toBe(7);
    expect(s.pools[0]!.backends.map((b) => b.healthy)).toEqual([true, false]);
    expect(s.peers.map((p) => p.name)).toEqual(["b", "e"]);
    expect(s.peers[0]).toEqual({ name: "b", address: "198.18.0.12", host: "198.18.0.12", port: 9090, proxyPort: 9090, origin: "http://198.18.0.12:9090" });
    // Only peers with healthy backends for the pool are candidates for it.
    expect(s.pools[0]!.peers).toEqual([{ peer: 0, weight: 2 }]);
    expect(s.fallbackPool).toBe("default");
    // Every other member's address counts for loop prevention, whatever its state; ours does not.
    expect(s.memberAddresses.sort()).toEqual(["198.18.0.12", "198.18.0.13", "198.18.0.14", "198.18.0.15", "198.18.0.16", "198.18.0.17"]);
    expect(s.memberNames).toContain("a");
    expect(invalid).toEqual(["g"]);
    expect(s.aliveAddresses.sort()).toEqual(["198.18.0.12", "198.18.0.15", "198.18.0.17"]);
  });

  test("pools: ours, then those only routes name; peers weighted by what they publish for each", () => {
    const s = buildSnapshot({
      version: 1,
      nodeName: "a",
      pools: [{ name: "api", backends: [backend("127.0.0.1:4001", "up")] }],
      routes: [{ host: "web.example.com", pathPrefix: "/", pool: "web", stripPrefix: false }, { pathPrefix: "/v1", pool: "api", stripPrefix: true }],
      members: [member("b", "198.18.0.12", "alive", 0, 8080, [["api", 3]]), member("c", "198.18.0.13", "alive", 5, 8080, [["web", 2], ["other", 9]])],
    });
    expect(s.pools.map((p) => p.name)).toEqual(["api", "web"]);
    expect(s.pools[0]!.peers).toEqual([{ peer: 0, weight: 3 }]);
    expect(s.pools[1]!.backends).toEqual([]);
    expect(s.pools[1]!.peers).toEqual([{ peer: 1, weight: 2 }]);
    // No default pool here: requests no route matches get 404, even though c serves "default".
    expect(s.fallbackPool).toBeUndefined();
  });

  test("IPv6 members get a bracketed origin", () => {
    const s = buildSnapshot({ version: 1, nodeName: "a", pools: [], routes: [], members: [member("b", "fd00::2", "alive", 1)] });
    expect(s.peers[0]!.origin).toBe("http://[fd00::2]:8080");
  });
});
