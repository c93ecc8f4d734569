// The balancing policies as pure functions of their candidates (real sockets: test/proxy/balance.test.ts).
import { describe, expect, test } from "bun:test";
import { BackendLoad, type Candidate, createBalancer } from "../../src/routing/balance/index.ts";
import { cookieValue, parseHashKey, requestKey } from "../../src/routing/balance/key.ts";
import { hashString } from "../../src/routing/balance/rendezvous.ts";
import { Router } from "../../src/routing/router.ts";
import type { LocalBackend, RoutingSnapshot } from "../../src/routing/snapshot.ts";

function backend(i: number, weight = 1): LocalBackend {
  return { index: i, address: `10.0.0.${i}:80`, host: `10.0.0.${i}`, port: 80, origin: `http://10.0.0.${i}:80`, healthy: true, weight };
}

function candidates(weights: number[]): Candidate[] {
  return weights.map((w, i) => ({ backend: backend(i, w), load: new BackendLoad() }));
}

function counts(n: number, pick: () => LocalBackend | undefined): number[] {
  const c: number[] = [];
  for (let i = 0; i < n; i++) {
    const b = pick()!;
    c[b.index] = (c[b.index] ?? 0) + 1;
  }
  return c;
}

const keys = Array.from({ length: 10_000 }, (_, i) => hashString(`session-${i}`));

describe("round_robin", () => {
  test("smooth weighted: 1:3 gives exactly 25/75 per cycle, never 4 of one in a row", () => {
    const b = createBalancer("round_robin", candidates([1, 3]));
    const seq = Array.from({ length: 40 }, () => b.pick(undefined, undefined)!.index);
    expect(seq.filter((i) => i === 0).length).toBe(10);
    expect(seq.join("")).not.toContain("1111");
  });

  test("excluded backends are skipped; all excluded gives undefined", () => {
    const b = createBalancer("round_robin", candidates([1, 1, 1]));
    for (let i = 0; i < 6; i++) expect(b.pick(new Set([0, 2]), undefined)!.index).toBe(1);
    expect(b.pick(new Set([0, 1, 2]), undefined)).toBeUndefined();
  });
});

describe("least_conn", () => {
  test("fewest in flight relative to weight wins; ties rotate", () => {
    const c = candidates([1, 2, 1]);
    const b = createBalancer("least_conn", c);
    c[0]!.load.inFlight = 2;
    c[1]!.load.inFlight = 2; // 2/2 = 1 per weight
    c[2]!.load.inFlight = 3;
    expect(b.pick(undefined, undefined)!.index).toBe(1);
    for (const x of c) x.load.inFlight = 0;
    // All idle: the rotating start spreads them.
    expect(counts(300, () => b.pick(undefined, undefined))).toEqual([100, 100, 100]);
  });
});

describe("p2c_ewma", () => {
  test("a backend with a 10x latency estimate gets almost nothing while the others are not swamped", () => {
    const c = candidates([1, 1, 1]);
    const b = createBalancer("p2c_ewma", c);
    const now = performance.now();
    c[0]!.load.observe(2, now);
    c[1]!.load.observe(2, now);
    c[2]!.load.observe(20, now);
    const n = counts(3000, () => b.pick(undefined, undefined));
    // The slow one only wins a pair it is not in... never: it loses every pair it is drawn into.
    expect(n[2] ?? 0).toBe(0);
    expect(Math.abs((n[0] ?? 0) - (n[1] ?? 0))).toBeLessThan(300);
  });

  test("the estimate takes a slower sample at once and decays back without traffic", () => {
    const l = new BackendLoad();
    l.observe(10, 0);
    l.observe(100, 1);
    expect(l.latency(1)).toBe(100);
    l.observe(10, 2);
    expect(l.latency(2)).toBeGreaterThan(99);
    expect(l.latency(20_000)).toBeLessThan(15);
  });
});

describe("hash (weighted rendezvous)", () => {
  test("removing 1 of 5 backends moves only its own keys (~1/5 of 10k)", () => {
    const five = createBalancer("hash", candidates([1, 1, 1, 1, 1]));
    const before = keys.map((k) => five.pick(undefined, k)!.index);
    const four = createBalancer("hash", candidates([1, 1, 1, 1, 1]).filter((c) => c.backend.index !== 3));
    const after = keys.map((k) => four.pick(undefined, k)!.index);
    let moved = 0;
    for (let i = 0; i < keys.length; i++) {
      if (before[i] !== 3) expect(after[i]).toBe(before[i]!);
      else moved++;
    }
    expect(moved / keys.length).toBeGreaterThan(0.17);
    expect(moved / keys.length).toBeLessThan(0.23);
  });

  test("adding a 6th backend takes ~1/6 of the keys, all from the others", () => {
    const five = createBalancer("hash", candidates([1, 1, 1, 1, 1]));
    const six = createBalancer("hash", candidates([1, 1, 1, 1, 1, 1]));
    let moved = 0;
    for (const k of keys) {
      const a = five.pick(undefined, k)!.index;
      const b = six.pick(undefined, k)!.index;
      if (a !== b) {
        expect(b).toBe(5);
        moved++;
      }
    }
    expect(moved / keys.length).toBeGreaterThan(0.14);
    expect(moved / keys.length).toBeLessThan(0.19);
  });

  test("weights are honoured (1:3 within 2 points) and the same key always picks the same backend", () => {
    const b = createBalancer("hash", candidates([1, 3]));
    const n = counts(keys.length, (() => {
      let i = 0;
      return () => b.pick(undefined, keys[i++]);
    })());
    expect(Math.abs(n[1]! / keys.length - 0.75)).toBeLessThan(0.02);
    for (const k of keys.slice(0, 100)) expect(b.pick(undefined, k)).toBe(b.pick(undefined, k));
  });

  test("an excluded (failed) backend's keys go to their second choice; no key round-robins", () => {
    const b = createBalancer("hash", candidates([1, 1, 1]));
    for (const k of keys.slice(0, 200)) {
      const first = b.pick(undefined, k)!.index;
      const second = b.pick(new Set([first]), k)!.index;
      expect(second).not.toBe(first);
      expect(b.pick(new Set([first]), k)!.index).toBe(second);
    }
  });

  test("a request without a key goes round-robin", () => {
    const b = createBalancer("hash", candidates([1, 1]));
    expect(counts(10, () => b.pick(undefined, undefined))).toEqual([5, 5]);
  });
});

describe("hash keys", () => {
  test("parsing", () => {
    expect(parseHashKey("ip")).toEqual({ kind: "ip" });
    expect(parseHashKey("header:X-User")).toEqual({ kind: "header", name: "x-user" });
    expect(parseHashKey("cookie:session")).toEqual({ kind: "cookie", name: "session" });
    for (const bad of ["", "header:", "cookie", "uri", "header:a b"]) expect(typeof parseHashKey(bad)).toBe("string");
  });

  test("reading: cookie, header, ip, and behind a member the client's address from X-Forwarded-For", () => {
    expect(cookieValue("a=1; session=abc; b=2", "session")).toBe("abc");
    expect(cookieValue("a=1", "session")).toBeNull();
    const headers = new Headers({ "x-user": "u1", cookie: "session=s1" });
    const src = { clientIp: "198.18.0.1", trusted: false, xff: "203.0.113.9", headers };
    expect(requestKey({ kind: "header", name: "x-user" }, src)).toBe(hashString("u1"));
    expect(requestKey({ kind: "cookie", name: "session" }, src)).toBe(hashString("s1"));
    // A client's own X-Forwarded-For is not its address...
    expect(requestKey({ kind: "ip" }, src)).toBe(hashString("198.18.0.1"));
    // ...but a member's last entry is (the entry node appended the client's address).
    expect(requestKey({ kind: "ip" }, { ...src, trusted: true, xff: "1.2.3.4, 203.0.113.9" })).toBe(hashString("203.0.113.9"));
    expect(requestKey({ kind: "header", name: "x-none" }, src)).toBeUndefined();
  });
});

/** A node's snapshot in a cluster of a, b, c whose healthy weights are `w`. */
function clusterSnap(self: string, w: Record<string, number>): RoutingSnapshot {
  const names = Object.keys(w);
  const others = names.filter((n) => n !== self);
  return {
    version: 1,
    nodeName: self,
    pools: [
      {
        name: "default",
        backends: Array.from({ length: w[self]! }, (_, i) => backend(i)),
        peers: others.map((n, peer) => ({ peer, weight: w[n]! })),
        balance: "hash",
        hashKey: { kind: "ip" },
        hashKeyText: "ip",
      },
    ],
    routes: [],
    fallbackPool: "default",
    peers: others.map((n, i) => ({ name: n, address: `198.18.1.${i}`, host: `198.18.1.${i}`, port: 80, proxyPort: 80, origin: `http://198.18.1.${i}:80` })),
    memberAddresses: [],
    memberNames: names,
    aliveAddresses: [],
  };
}

describe("node choice for a hashed request", () => {
  test("every entry node sends a key to the same node, in proportion to the nodes' healthy weights", () => {
    const w = { a: 1, b: 2, c: 1 };
    const routers = ["a", "b", "c"].map((n) => new Router(clusterSnap(n, w)));
    const nameOf = (r: Router, k: number) => {
      const c = r.pool("default")!.pickNode(undefined, k);
      return c === null ? r.snapshot.nodeName : c!.name;
    };
    const tally: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (const k of keys) {
      const at = routers.map((r) => nameOf(r, k));
      expect(new Set(at).size).toBe(1);
      tally[at[0]!]!++;
    }
    expect(Math.abs(tally.b! / keys.length - 0.5)).toBeLessThan(0.02);
  });
});
