import { describe, expect, test } from "bun:test";
import type { Member } from "../../src/cluster/memberlist.ts";
import { encodeNodeMeta } from "../../src/control/nodemeta.ts";
import type { BackendHealth } from "../../src/health/checker.ts";
import { buildSnapshot } from "../../src/routing/builder.ts";

function member(name: string, address: string, state: Member["state"], healthy: number | Uint8Array, port = 8080): Member {
  const meta = healthy instanceof Uint8Array ? healthy : encodeNodeMeta({ healthy, proxyPort: port });
  return { name, address, port: 7946, state, incarnation: 1, meta, stateChangedAt: 0 };
}

const backend = (address: string, status: BackendHealth["status"]): BackendHealth => {
  const [host, port] = address.split(":");
  return { address, host: host!, port: Number(port), status, lastCheck: null, lastError: null, failures: 0, passes: 0, fails: 0 };
};

describe("snapshot builder", () => {
  test("alive peers with healthy backends get their published weight and proxy port", () => {
    const invalid: string[] = [];
    const s = buildSnapshot({
      version: 7,
      nodeName: "a",
      backends: [backend("127.0.0.1:3001", "up"), backend("127.0.0.1:3002", "down")],
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
    expect(s.backends.map((b) => b.healthy)).toEqual([true, false]);
    expect(s.peers).toEqual([{ name: "b", address: "198.18.0.12", host: "198.18.0.12", port: 9090, proxyPort: 9090, weight: 2, origin: "http://198.18.0.12:9090" }]);
    // Every other member's address counts for loop prevention, whatever its state; ours does not.
    expect(s.memberAddresses.sort()).toEqual(["198.18.0.12", "198.18.0.13", "198.18.0.14", "198.18.0.15", "198.18.0.16", "198.18.0.17"]);
    expect(s.memberNames).toContain("a");
    expect(invalid).toEqual(["g"]);
    expect(s.aliveAddresses.sort()).toEqual(["198.18.0.12", "198.18.0.15", "198.18.0.17"]);
  });

  test("IPv6 members get a bracketed origin", () => {
    const s = buildSnapshot({ version: 1, nodeName: "a", backends: [], members: [member("b", "fd00::2", "alive", 1)] });
    expect(s.peers[0]!.origin).toBe("http://[fd00::2]:8080");
  });
});
