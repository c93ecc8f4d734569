// Two or three nodes' limiters and gossip wired directly (no engine): what one admits drains the
// others' buckets, whatever is lost, repeated, reordered or cut off.
import { describe, expect, test } from "bun:test";
import type { RateLimitConfig } from "../../src/config/schema.ts";
import { UsageGossip } from "../../src/ratelimit/gossip.ts";
import { RateLimiter } from "../../src/ratelimit/limiter.ts";

const LIMITS: RateLimitConfig[] = [
  { name: "per-client", key: { kind: "header", name: "x-client" }, rate: 100, burst: 10, scope: "cluster" },
  { name: "node-only", key: { kind: "global" }, rate: 1_000_000, burst: 1_000_000, scope: "node" },
];

class FakeNode {
  readonly limiter = new RateLimiter(LIMITS, { maxKeys: 10_000, report: "cluster", chargeLagMs: 0 });
  readonly gossip: UsageGossip;
  constructor(
    name: string,
    clock: { t: number },
    o: { bytesPerS?: number; members?: number } = {},
  ) {
    const l = this.limiter;
    this.gossip = new UsageGossip({
      nodeName: name,
      type: 1,
      table: l.table,
      limits: l.limits,
      bytesPerS: o.bytesPerS ?? 1_000_000,
      silentMs: 1000,
      heartbeatMs: 125,
      members: () => o.members ?? 3,
      pull: () => l.takeFresh((e, n) => this.gossip.local(e, n)),
      sink: l,
      now: () => clock.t,
    });
  }

  /** Offers `n` requests for client `c` at the current time; returns how many were admitted. */
  offer(c: string, n: number, now: number): number {
    let ok = 0;
    for (let i = 0; i < n; i++) if (this.limiter.check({ headers: new Headers({ "x-client": c }), clientIp: "x", route: null, pool: null }, now) === null) ok++;
    return ok;
  }

  /** One gossip packet's worth (type byte stripped, as the mux hands it on). */
  send(room = 1400): Uint8Array[] {
    return this.gossip.broadcasts(room).map((m) => m.subarray(1));
  }

  tokens(c: string): number {
    return this.limiter.table.lookup(this.limiter.limits[0]!, c, -1).tokens;
  }
}

describe("usage gossip", () => {
  test("a node's admissions drain the peer's bucket, once, however often the count is repeated", () => {
    const clock = { t: 0 };
    const a = new FakeNode("a", clock);
    const b = new FakeNode("b", clock);
    expect(a.offer("k", 10, 0)).toBe(10);
    const msgs = a.send();
    expect(msgs.length).toBe(1);
    for (let i = 0; i < 5; i++) for (const m of msgs) b.gossip.receive(m);
    for (let i = 0; i < 4; i++) for (const m of a.send()) b.gossip.receive(m);
    expect(b.gossip.stats.charged).toBe(10);
    expect(b.offer("k", 5, 0)).toBe(0);
  });

  test("lost messages lose nothing: the next count carries the difference", () => {
    const clock = { t: 0 };
    const a = new FakeNode("a", clock);
    const b = new FakeNode("b", clock);
    a.offer("k", 3, 0);
    b.gossip.receive(a.send()[0]!);
    a.offer("k", 4, 0);
    a.send(); // lost
    a.send(); // lost
    a.offer("k", 2, 0);
    b.gossip.receive(a.send()[0]!);
    expect(b.gossip.stats.charged).toBe(9);
  });

  test("a reordered older count is ignored", () => {
    const clock = { t: 0 };
    const a = new FakeNode("a", clock);
    const b = new FakeNode("b", clock);
    a.offer("k", 2, 0);
    const old = a.send()[0]!;
    a.offer("k", 3, 0);
    const fresh = a.send()[0]!;
    b.gossip.receive(fresh);
    b.gossip.receive(old);
    b.gossip.receive(fresh);
    expect(b.gossip.stats.charged).toBe(5);
  });

  test("after a silence (partition) a node's counts restart uncharged; a restarted node's count is charged anew", () => {
    const clock = { t: 0 };
    const a = new FakeNode("a", clock);
    const b = new FakeNode("b", clock);
    a.offer("k", 5, 0);
    b.gossip.receive(a.send()[0]!);
    expect(b.gossip.stats.charged).toBe(5);
    // partitioned for 5 s: a admits at its own full rate, b hears nothing
    for (let t = 100; t <= 5000; t += 100) {
      clock.t = t;
      a.offer("k", 10, t);
      a.send();
    }
    clock.t = 5100;
    a.offer("k", 1, 5100);
    b.gossip.receive(a.send()[0]!);
    expect(b.gossip.stats.resyncs).toBe(1);
    expect(b.gossip.stats.charged).toBe(5);
    a.offer("k", 1, 5150);
    clock.t = 5150;
    b.gossip.receive(a.send()[0]!);
    expect(b.gossip.stats.charged).toBe(6);
    // a restarts (new boot id): its first count is charged, capped at burst + rate
    const a2 = new FakeNode("a", clock);
    a2.offer("k", 3, 5150);
    b.gossip.receive(a2.send()[0]!);
    expect(b.gossip.stats.charged).toBe(9);
  });

  test("node-scope limits and our own messages are never charged", () => {
    const clock = { t: 0 };
    const a = new FakeNode("a", clock);
    a.limiter.check({ headers: new Headers(), clientIp: "x", route: null, pool: null }, 0);
    for (const m of a.send()) a.gossip.receive(m);
    expect(a.gossip.stats.charged).toBe(0);
    expect(a.limiter.limits[1]!.pending.length).toBe(0);
  });

  test("with nothing to tell, a header-only heartbeat goes to every target of a round, then not until the next", () => {
    const clock = { t: 0 };
    const a = new FakeNode("a", clock);
    expect(a.send().length).toBe(1);
    expect(a.send().length).toBe(1);
    clock.t = 50;
    expect(a.send().length).toBe(0);
    clock.t = 130;
    expect(a.send().length).toBe(1);
  });

  test("bytes sent stay within the budget; what waits is sent later, nothing lost", () => {
    const clock = { t: 0 };
    const a = new FakeNode("a", clock, { bytesPerS: 2000, members: 1 });
    const b = new FakeNode("b", clock);
    for (let k = 0; k < 1000; k++) a.offer(`c${k}`, 1, 0);
    let bytes = 0;
    for (let t = 0; t <= 10_000; t += 10) {
      clock.t = t;
      for (const m of a.send()) {
        bytes += m.length + 1;
        b.gossip.receive(m);
      }
      // the first second: its budget and the second's refill, not the ~10 KB all 1000 counts need
      if (t === 990) {
        expect(bytes).toBeLessThanOrEqual(2000 * 2);
        expect(b.gossip.stats.charged).toBeLessThan(1000);
      }
    }
    expect(bytes).toBeLessThanOrEqual(2000 * 11);
    expect(b.gossip.stats.charged).toBe(1000);
  });

  test("push/pull state carries every count; merging it twice charges once", () => {
    const clock = { t: 0 };
    const a = new FakeNode("a", clock);
    const b = new FakeNode("b", clock);
    for (let k = 0; k < 300; k++) a.offer(`c${k}`, 2, 0);
    const state = a.gossip.state();
    b.gossip.mergeState(state);
    b.gossip.mergeState(state);
    expect(b.gossip.stats.charged).toBe(600);
    expect(b.tokens("c7")).toBe(8);
  });

  test("1/s keys whose requests take turns over three nodes: each node's turn finds the cluster's token (charges are backdated by their age)", () => {
    const clock = { t: 0 };
    const cfg: RateLimitConfig[] = [{ name: "per-user", key: { kind: "header", name: "x-client" }, rate: 1, burst: 1, scope: "cluster" }];
    const nodes = ["a", "b", "c"].map((name) => {
      const l = new RateLimiter(cfg, { maxKeys: 1000, report: "cluster", chargeLagMs: 0 });
      const g: UsageGossip = new UsageGossip({ nodeName: name, type: 1, table: l.table, limits: l.limits, bytesPerS: 1e6, silentMs: 1000, heartbeatMs: 125, members: () => 3, pull: () => l.takeFresh((e, n) => g.local(e, n)), sink: l, now: () => clock.t });
      return { l, g };
    });
    const perKey = new Array<number>(100).fill(0);
    // 2 requests per second per key, request i to node i % 3 with key i % 100; gossip every 30 ms
    for (let t = 0; t < 11_000; t += 5) {
      clock.t = t;
      if (t % 5 === 0) {
        const i = t / 5;
        const k = i % 100;
        const n = nodes[i % 3]!;
        if (n.l.check({ headers: new Headers({ "x-client": `u${k}` }), clientIp: "x", route: null, pool: null }, t) === null && t >= 1000) perKey[k]!++;
      }
      if (t % 30 === 0) for (const n of nodes) for (const m of n.g.broadcasts(1400)) for (const o of nodes) if (o !== n) o.g.receive(m.subarray(1));
    }
    expect(Math.min(...perKey)).toBeGreaterThanOrEqual(9);
    expect(Math.max(...perKey)).toBeLessThanOrEqual(11);
  });

  test("three nodes, traffic spread evenly at 3× the rate: the cluster admits the rate", () => {
    const clock = { t: 0 };
    const nodes = [new FakeNode("a", clock), new FakeNode("b", clock), new FakeNode("c", clock)];
    let admitted = 0;
    // 10 s in 10 ms steps: each node offered 100/s (1 per step), gossip every 30 ms to everyone
    for (let step = 0; step < 1000; step++) {
      const t = step * 10;
      clock.t = t;
      for (const n of nodes) admitted += n.offer("k", 1, t);
      if (step % 3 === 0) {
        for (const n of nodes) for (const m of n.send()) for (const o of nodes) if (o !== n) o.gossip.receive(m);
      }
    }
    // rate × 10 s + the burst each node started with
    expect(admitted).toBeGreaterThan(950);
    expect(admitted).toBeLessThan(1000 + 3 * 10 + 20);
  });
});
