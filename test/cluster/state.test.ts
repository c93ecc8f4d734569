import { describe, expect, test } from "bun:test";
import { Awareness } from "../../src/cluster/awareness.ts";
import type { Alive, Dead, PushNodeState, Suspect, Vsn } from "../../src/cluster/messages.ts";
import { NodeStateCode, OUR_VSN } from "../../src/cluster/messages.ts";
import { GossipCounters } from "../../src/cluster/metrics.ts";
import type { NodeState, StateEventKind } from "../../src/cluster/state.ts";
import { IncompatibleVersionError, StateTable } from "../../src/cluster/state.ts";
import { quietLogger } from "./helpers.ts";
import { TimingWheel } from "../../src/timer/wheel.ts";

const IP = (last: number) => Uint8Array.from([10, 0, 0, last]);
const meta = (s: string) => new TextEncoder().encode(s);

function setup(opts: { suspicionMult?: number } = {}) {
  let t = 0;
  const now = () => t;
  const wheel = new TimingWheel({ tickMs: 1, manual: true, now });
  const sent: { kind: string; msg: Alive | Suspect | Dead }[] = [];
  const events: [StateEventKind, string, string][] = [];
  const awareness = new Awareness(8);
  const counters = new GossipCounters();
  const table = new StateTable({
    localName: "self",
    probeIntervalMs: 1000,
    suspicionMult: opts.suspicionMult ?? 4,
    suspicionMaxTimeoutMult: 6,
    wheel,
    now,
    awareness,
    counters,
    logger: quietLogger(),
    broadcaster: {
      alive: (a, done) => {
        sent.push({ kind: "alive", msg: a });
        done?.();
      },
      suspect: (s) => sent.push({ kind: "suspect", msg: s }),
      dead: (d, done) => {
        sent.push({ kind: "dead", msg: d });
        done?.();
      },
    },
    onEvent: (kind, n: NodeState) => events.push([kind, n.name, n.state]),
  });
  table.setLocalAlive(IP(1), 7946, meta("m0"), OUR_VSN);
  return {
    table,
    sent,
    events,
    awareness,
    counters,
    to(ms: number) {
      t = ms;
      wheel.advance(ms);
    },
  };
}

function alive(node: string, incarnation: number, last = 2, m = "", vsn: Vsn = OUR_VSN): Alive {
  return { node, incarnation, addr: IP(last), port: 7946, meta: meta(m), vsn };
}

describe("StateTable: alive", () => {
  test("self is announced alive with incarnation 1", () => {
    const s = setup();
    expect(s.table.local()?.state).toBe("alive");
    expect(s.table.local()?.incarnation).toBe(1);
    expect(s.sent.map((x) => x.kind)).toEqual(["alive"]);
    expect(s.events).toEqual([["join", "self", "alive"]]);
  });

  test("unknown node is added with a join event and re-gossiped", () => {
    const s = setup();
    expect(s.table.aliveNode(alive("b", 1, 2, "x"))).toBe(true);
    expect(s.table.get("b")?.state).toBe("alive");
    expect(s.table.get("b")?.address).toBe("10.0.0.2");
    expect(s.events.at(-1)).toEqual(["join", "b", "alive"]);
    expect(s.sent.at(-1)?.kind).toBe("alive");
    expect(s.table.numNodes).toBe(2);
  });

  test("only a higher incarnation applies; meta change fires update", () => {
    const s = setup();
    s.table.aliveNode(alive("b", 5, 2, "x"));
    const n = s.sent.length;
    expect(s.table.aliveNode(alive("b", 5, 2, "y"))).toBe(false);
    expect(s.table.aliveNode(alive("b", 4, 2, "y"))).toBe(false);
    expect(s.sent.length).toBe(n);
    expect(s.table.aliveNode(alive("b", 6, 2, "y"))).toBe(true);
    expect(new TextDecoder().decode(s.table.get("b")?.meta)).toBe("y");
    expect(s.events.at(-1)).toEqual(["update", "b", "alive"]);
    // same meta, higher incarnation: applied, but no event
    const ev = s.events.length;
    expect(s.table.aliveNode(alive("b", 7, 2, "y"))).toBe(true);
    expect(s.events.length).toBe(ev);
  });

  test("a different address for a known live name is a conflict and is rejected", () => {
    const s = setup();
    s.table.aliveNode(alive("b", 1, 2));
    expect(s.table.aliveNode(alive("b", 9, 3))).toBe(false);
    expect(s.table.get("b")?.address).toBe("10.0.0.2");
    // a dead (not left) node keeps its address too (DeadNodeReclaimTime is off)
    s.table.deadNode({ node: "b", incarnation: 1, from: "x" });
    expect(s.table.aliveNode(alive("b", 9, 3))).toBe(false);
  });

  test("a left node may come back from another address, at any incarnation", () => {
    const s = setup();
    s.table.aliveNode(alive("b", 5, 2));
    s.table.deadNode({ node: "b", incarnation: 5, from: "b" });
    expect(s.table.get("b")?.state).toBe("left");
    expect(s.table.aliveNode(alive("b", 1, 3))).toBe(true);
    expect(s.table.get("b")?.address).toBe("10.0.0.3");
    expect(s.table.get("b")?.state).toBe("alive");
    expect(s.events.at(-1)).toEqual(["join", "b", "alive"]);
  });

  test("alive with invalid protocol versions is ignored", () => {
    const s = setup();
    expect(s.table.aliveNode(alive("b", 1, 2, "", [0, 5, 2, 0, 0, 0]))).toBe(false);
    expect(s.table.aliveNode(alive("b", 1, 2, "", [3, 2, 2, 0, 0, 0]))).toBe(false);
    expect(s.table.get("b")).toBeUndefined();
  });

  test("an IPv4-mapped IPv6 address is the same address", () => {
    const s = setup();
    s.table.aliveNode(alive("b", 1, 2));
    const mapped = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 10, 0, 0, 2]);
    expect(s.table.aliveNode({ ...alive("b", 2, 2), addr: mapped })).toBe(true);
  });
});

describe("StateTable: suspect and dead", () => {
  test("suspect → dead after the suspicion timeout (k=0: min)", () => {
    const s = setup();
    s.table.aliveNode(alive("b", 1));
    expect(s.table.suspectNode({ node: "b", incarnation: 1, from: "self" })).toBe(true);
    expect(s.table.get("b")?.state).toBe("suspect");
    expect(s.counters.suspicionsRaised).toBe(1);
    // N=2 → k=0, min = 4 × 1 × 1000
    s.to(3999);
    expect(s.table.get("b")?.state).toBe("suspect");
    s.to(4000);
    expect(s.table.get("b")?.state).toBe("dead");
    const dead = s.sent.at(-1);
    expect(dead?.kind).toBe("dead");
    expect(dead?.msg).toEqual({ node: "b", incarnation: 1, from: "self" });
    expect(s.events.slice(-2)).toEqual([
      ["update", "b", "suspect"],
      ["dead", "b", "dead"],
    ]);
  });

  test("with k>0 the timer starts at max and confirmations shorten it", () => {
    const s = setup();
    for (const [i, n] of ["b", "c", "d", "e"].entries()) s.table.aliveNode(alive(n, 1, 2 + i));
    // N=5 → k=2, min 4 s, max 24 s
    s.table.suspectNode({ node: "b", incarnation: 1, from: "c" });
    s.to(10000);
    expect(s.table.get("b")?.state).toBe("suspect");
    const before = s.sent.length;
    expect(s.table.suspectNode({ node: "b", incarnation: 1, from: "c" })).toBe(true); // repeat: no re-gossip
    expect(s.sent.length).toBe(before);
    s.table.suspectNode({ node: "b", incarnation: 1, from: "d" });
    expect(s.sent.length).toBe(before + 1); // a new confirmation is re-gossiped
    s.table.suspectNode({ node: "b", incarnation: 1, from: "e" });
    // two confirmations: remaining = min − elapsed < 0 → dead right away
    expect(s.table.get("b")?.state).toBe("dead");
  });

  test("stale suspect/dead (lower incarnation) and unknown names are ignored", () => {
    const s = setup();
    s.table.aliveNode(alive("b", 5));
    expect(s.table.suspectNode({ node: "b", incarnation: 4, from: "x" })).toBe(false);
    expect(s.table.deadNode({ node: "b", incarnation: 4, from: "x" })).toBe(false);
    expect(s.table.suspectNode({ node: "zz", incarnation: 9, from: "x" })).toBe(false);
    expect(s.table.deadNode({ node: "zz", incarnation: 9, from: "x" })).toBe(false);
    expect(s.table.get("b")?.state).toBe("alive");
  });

  test("a refuting alive (higher incarnation) cancels the suspicion", () => {
    const s = setup();
    s.table.aliveNode(alive("b", 1));
    s.table.suspectNode({ node: "b", incarnation: 1, from: "self" });
    s.table.aliveNode(alive("b", 2));
    expect(s.table.get("b")?.state).toBe("alive");
    s.to(60000);
    expect(s.table.get("b")?.state).toBe("alive");
  });

  test("dead with From == Node is a graceful leave", () => {
    const s = setup();
    s.table.aliveNode(alive("b", 3));
    expect(s.table.deadNode({ node: "b", incarnation: 3, from: "b" })).toBe(true);
    expect(s.table.get("b")?.state).toBe("left");
    expect(s.events.at(-1)).toEqual(["leave", "b", "left"]);
    // dead about a dead/left node changes nothing
    expect(s.table.deadNode({ node: "b", incarnation: 3, from: "x" })).toBe(false);
  });
});

describe("StateTable: refutation", () => {
  test("suspect about us → incarnation above the accusation, fresh alive, health +1", () => {
    const s = setup();
    const before = s.sent.length;
    expect(s.table.suspectNode({ node: "self", incarnation: 7, from: "b" })).toBe(true);
    expect(s.table.local()?.state).toBe("alive");
    expect(s.table.local()?.incarnation).toBe(8);
    expect(s.awareness.score).toBe(1);
    expect(s.counters.refutations).toBe(1);
    const a = s.sent[before];
    expect(a.kind).toBe("alive");
    expect((a.msg as Alive).incarnation).toBe(8);
    expect(new TextDecoder().decode((a.msg as Alive).meta)).toBe("m0");
  });

  test("dead about us is refuted, and own incarnation counter moves past it", () => {
    const s = setup();
    s.table.deadNode({ node: "self", incarnation: 1, from: "b" });
    expect(s.table.local()?.incarnation).toBe(2);
    s.table.deadNode({ node: "self", incarnation: 2, from: "b" });
    expect(s.table.local()?.incarnation).toBe(3);
    expect(s.table.local()?.state).toBe("alive");
  });

  test("alive about us: same view is ignored, different meta at same incarnation is refuted", () => {
    const s = setup();
    const me = s.table.local()!;
    const n = s.sent.length;
    expect(s.table.aliveNode({ node: "self", incarnation: me.incarnation, addr: me.addr, port: me.port, meta: me.meta, vsn: me.vsn })).toBe(false);
    expect(s.sent.length).toBe(n);
    s.table.aliveNode({ node: "self", incarnation: me.incarnation, addr: me.addr, port: me.port, meta: meta("forged"), vsn: me.vsn });
    expect(s.table.local()?.incarnation).toBe(2);
    expect(new TextDecoder().decode(s.table.local()?.meta)).toBe("m0");
  });

  test("while leaving, our own death is not refuted", () => {
    const s = setup();
    s.table.aliveNode(alive("b", 1));
    let done = false;
    s.table.leave(() => (done = true));
    expect(done).toBe(true);
    expect(s.table.local()?.state).toBe("left");
    const last = s.sent.at(-1);
    expect(last?.kind).toBe("dead");
    expect(last?.msg).toEqual({ node: "self", incarnation: 1, from: "self" });
    expect(s.table.suspectNode({ node: "self", incarnation: 5, from: "b" })).toBe(false);
    expect(s.table.aliveNode(alive("self", 9, 1))).toBe(false);
  });
});

describe("StateTable: push/pull merge", () => {
  const pns = (name: string, state: number, incarnation: number, last: number): PushNodeState => ({
    name,
    addr: IP(last),
    port: 7946,
    meta: new Uint8Array(),
    incarnation,
    state,
    vsn: OUR_VSN,
  });

  test("alive → added; left → left; dead or suspect → only suspect", () => {
    const s = setup();
    s.table.aliveNode(alive("c", 1, 3));
    s.table.aliveNode(alive("d", 1, 4));
    s.table.aliveNode(alive("e", 1, 5));
    s.table.mergeState([
      pns("b", NodeStateCode.alive, 1, 2),
      pns("c", NodeStateCode.left, 1, 3),
      pns("d", NodeStateCode.dead, 1, 4),
      pns("e", NodeStateCode.suspect, 1, 5),
      pns("f", NodeStateCode.dead, 1, 6), // unknown and not alive: ignored
    ]);
    expect(s.table.get("b")?.state).toBe("alive");
    expect(s.table.get("c")?.state).toBe("left");
    expect(s.table.get("d")?.state).toBe("suspect");
    expect(s.table.get("e")?.state).toBe("suspect");
    expect(s.table.get("f")).toBeUndefined();
  });

  test("a restarted node (incarnation 1) refutes the old death the peer still lists", () => {
    const s = setup();
    s.table.mergeState([pns("self", NodeStateCode.dead, 6, 1), pns("b", NodeStateCode.alive, 1, 2)]);
    expect(s.table.local()?.state).toBe("alive");
    expect(s.table.local()?.incarnation).toBe(7);
  });

  test("toPushStates lists every entry with its state code", () => {
    const s = setup();
    s.table.aliveNode(alive("b", 2));
    s.table.deadNode({ node: "b", incarnation: 2, from: "b" });
    const states = s.table.toPushStates();
    expect(states.map((x) => [x.name, x.state, x.incarnation]).sort()).toEqual([
      ["b", 3, 2],
      ["self", 0, 1],
    ]);
  });

  test("verifyProtocol rejects a node whose current version is outside the common range", () => {
    const s = setup();
    expect(() => s.table.verifyProtocol([pns("b", NodeStateCode.alive, 1, 2)])).not.toThrow();
    const odd = { ...pns("b", NodeStateCode.alive, 1, 2), vsn: [1, 5, 2, 1, 1, 1] as Vsn };
    expect(() => s.table.verifyProtocol([odd])).toThrow(IncompatibleVersionError);
  });
});

describe("StateTable: reaping", () => {
  test("dead and left entries are dropped after gossip-to-the-dead time, never self", () => {
    const s = setup();
    s.table.aliveNode(alive("b", 1, 2));
    s.table.aliveNode(alive("c", 1, 3));
    s.table.aliveNode(alive("d", 1, 4));
    s.table.deadNode({ node: "b", incarnation: 1, from: "x" });
    s.table.deadNode({ node: "c", incarnation: 1, from: "c" });
    s.to(1000);
    expect(s.table.reapAndShuffle(30000)).toEqual([]);
    s.to(31001);
    expect(s.table.reapAndShuffle(30000).map((n) => n.name).sort()).toEqual(["b", "c"]);
    expect(s.table.all().map((n) => n.name).sort()).toEqual(["d", "self"]);
    expect(s.table.get("b")).toBeUndefined();
  });
});
