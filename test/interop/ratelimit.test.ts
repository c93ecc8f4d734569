// Rate-limit usage gossip (user broadcasts and push/pull user state under type byte 0x01) beside a Go
// memberlist 0.2.2 node: Go gets our bytes and carries on (its delegate sees opaque messages and state),
// and what a Go application sends through the same channels is counted and ignored on our side.
import { afterEach, describe, expect, test } from "bun:test";
import { Memberlist } from "../../src/cluster/index.ts";
import { USER_MSG, UserMessages } from "../../src/control/usermessages.ts";
import { UsageGossip } from "../../src/ratelimit/gossip.ts";
import { RateLimiter } from "../../src/ratelimit/limiter.ts";
import { quietLogger, waitFor } from "../cluster/helpers.ts";
import { buildGoPeer, GoNode } from "./gonode.ts";

const go = await buildGoPeer();
const GO_TIMING = { probeInterval: "300ms", probeTimeout: "150ms", gossipInterval: "100ms", pushPullInterval: "2s" };
const BUN_TIMING = { probeIntervalMs: 300, probeTimeoutMs: 150, gossipIntervalMs: 100, pushPullIntervalMs: 2000, tcpTimeoutMs: 2000, joinRetryMaxMs: 1000 };

const goNodes: GoNode[] = [];
const bunNodes: Memberlist[] = [];
afterEach(async () => {
  for (const g of goNodes.splice(0)) g.kill();
  await Promise.all(bunNodes.splice(0).map((b) => b.shutdown()));
});

describe.skipIf(!go.ok)("rate-limit gossip beside Go memberlist 0.2.2", () => {
  test("Go peers take our usage messages and state as opaque bytes; theirs are ignored by us", async () => {
    const g = await GoNode.start(go.ok ? go.binary : "", { name: "go-1", ...GO_TIMING });
    goNodes.push(g);
    await g.setState("go-state");
    const limiter = new RateLimiter([{ name: "per-client", key: { kind: "ip" }, rate: 100, burst: 100, scope: "cluster" }], { maxKeys: 1000, report: "cluster", chargeLagMs: 0 });
    const mux = new UserMessages();
    const usage: UsageGossip = new UsageGossip({
      nodeName: "bun-1",
      type: USER_MSG.rateLimit,
      table: limiter.table,
      limits: limiter.limits,
      bytesPerS: 65_536,
      silentMs: 1000,
      heartbeatMs: 125,
      members: () => 2,
      pull: () => limiter.takeFresh((e, n) => usage.local(e, n)),
      sink: limiter,
    });
    mux.add(usage);
    const b = await Memberlist.create({
      name: "bun-1",
      bindAddress: "127.0.0.1",
      bindPort: 0,
      peers: [],
      delegate: { notifyMsg: (m) => mux.notifyMsg(m), getBroadcasts: (o, l) => mux.getBroadcasts(o, l), localState: () => mux.localState(), mergeRemoteState: (s) => mux.mergeRemoteState(s) },
      logger: quietLogger(),
      ...BUN_TIMING,
    });
    bunNodes.push(b);
    await b.join([`127.0.0.1:${g.port}`]);
    await g.waitFor((e) => e.event === "join" && "name" in e && e.name === "bun-1");
    for (let i = 0; i < 5; i++) limiter.check({ headers: new Headers(), clientIp: "198.18.0.1", route: null, pool: null });
    // Go's delegate gets our usage broadcasts (type byte 1) and our state with a push/pull
    await g.waitFor((e) => e.event === "msg" && e.data.startsWith("\u0001"));
    await g.next((e) => e.event === "state", 10_000);
    // and what a Go application sends is ignored here, never taken for usage
    await g.broadcast("go-gossip");
    await waitFor("Go's broadcast and state ignored", () => mux.ignored >= 2, 10_000);
    expect(usage.stats.malformed).toBe(0);
    expect(usage.stats.charged).toBe(0);
    expect(b.metrics().dropped).toEqual({});
    const goView = await g.members();
    expect(goView.map((m) => m.name).sort()).toEqual(["bun-1", "go-1"]);
    expect(b.members().every((m) => m.state === "alive")).toBe(true);
  }, 30_000);
});
