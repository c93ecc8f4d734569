// The simulator's compact member tables (sim/compactstore.ts) behind the engine's MemberStore seam: the
// engine must behave exactly as with its own Map store (same seed → same event log), and a settled start
// must be a cluster a new member can join.
import { expect, test } from "bun:test";
import { OUR_VSN } from "../../src/cluster/messages.ts";
import { CompactMemberStore, MemberRegistry } from "../../sim/compactstore.ts";
import { runScenario, type ScenarioConfig } from "../../sim/scenario.ts";
import { everyFault } from "./scenarios.ts";

const faults = (store: "compact" | "map"): ScenarioConfig => ({ ...everyFault(11), store });

test("compact tables and the engine's Map store give the same event log (seed 11, every fault on)", async () => {
  const compact = await runScenario(faults("compact"));
  const map = await runScenario(faults("map"));
  expect(compact.events).toBeGreaterThan(500);
  expect(compact.event_log_hash).toBe(map.event_log_hash);
}, 30_000);

test("a settled start is a cluster: the new member joins, the crash is detected by all", async () => {
  const f = await runScenario({ ...faults("compact"), nodes: 30, loss: 0, partition: null, slow: 0, bootstrap: "settled" });
  expect(f.bootstrap).toBe("settled");
  expect(f.join_all_ms).not.toBeNull();
  expect(f.detect_all_dead_ms).not.toBeNull();
  expect(f.false_positives).toBe(0);
}, 30_000);

const ann = (last: number, meta = "") => ({ addr: new Uint8Array([10, 0, 0, last]), address: `10.0.0.${last}`, port: 7946, meta: new TextEncoder().encode(meta), vsn: OUR_VSN });

test("entries are views on shared columns: writes go through, announcements are shared, order is kept", () => {
  const reg = new MemberRegistry();
  const a = new CompactMemberStore(reg, 2);
  const b = new CompactMemberStore(reg, 2);
  for (const [i, name] of ["x", "y", "z"].entries()) a.add(name, ann(i + 1), 1, "alive", 0);
  b.add("y", ann(2), 4, "suspect", 7);
  // one copy of y's announcement serves both tables
  expect(a.get("y")?.addr).toBe(b.get("y")?.addr as Uint8Array);
  const y = a.get("y");
  if (!y) throw new Error("y missing");
  y.state = "dead";
  y.incarnation = 9;
  y.stateChangedAt = 1234;
  expect(a.get("y")).toMatchObject({ name: "y", state: "dead", incarnation: 9, stateChangedAt: 1234, address: "10.0.0.2" });
  expect(b.get("y")).toMatchObject({ state: "suspect", incarnation: 4, stateChangedAt: 7 });
  // a changed meta is an announcement of its own, for that table only
  a.announce(y, ann(2, "m"));
  expect(new TextDecoder().decode(a.get("y")?.meta)).toBe("m");
  expect(b.get("y")?.meta.length).toBe(0);
  a.swap(0, 2);
  expect([0, 1, 2].map((i) => a.at(i).name)).toEqual(["z", "y", "x"]);
  const removed = a.removeWhere((n) => n.state === "dead");
  expect(removed.map((n) => [n.name, n.state, n.incarnation])).toEqual([["y", "dead", 9]]);
  expect(a.get("y")).toBeUndefined();
  expect([0, 1].map((i) => a.at(i).name)).toEqual(["z", "x"]);
  expect(() => a.add("x", ann(1), 1, "alive", 0)).toThrow("already");
  expect(() => a.at(2)).toThrow(RangeError);
  // columns are uint32 incarnations and whole-ms int32 times: out of range fails loudly
  const x = a.get("x");
  if (!x) throw new Error("x missing");
  expect(() => (x.incarnation = 2 ** 32)).toThrow(RangeError);
  expect(() => (x.stateChangedAt = 0.5)).toThrow(RangeError);
});
