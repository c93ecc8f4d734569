// The engine's default member store: entries by name and in probe order; an announcement replaces address,
// meta and versions as a whole (and the versions are copied, so the message's array may be reused).
import { expect, test } from "bun:test";
import { MapMemberStore } from "../../src/cluster/members.ts";
import type { Vsn } from "../../src/cluster/messages.ts";

const ann = (last: number, meta = "", vsn: Vsn = [1, 5, 2, 0, 0, 0]) => ({ addr: new Uint8Array([10, 0, 0, last]), address: `10.0.0.${last}`, port: 7946, meta: new TextEncoder().encode(meta), vsn });

test("MapMemberStore: add, get, announce, swap, removeWhere", () => {
  const s = new MapMemberStore();
  const vsn: Vsn = [1, 5, 2, 0, 0, 0];
  const x = s.add("x", ann(1, "", vsn), 1, "alive", 5);
  vsn[2] = 9;
  expect(x.vsn[2]).toBe(2);
  s.add("y", ann(2), 2, "suspect", 6);
  s.add("z", ann(3), 3, "dead", 7);
  expect(s.size).toBe(3);
  expect(s.get("y")).toMatchObject({ name: "y", address: "10.0.0.2", incarnation: 2, state: "suspect", stateChangedAt: 6 });
  const y = s.get("y");
  if (!y) throw new Error("y missing");
  y.state = "alive";
  s.announce(y, ann(4, "m"));
  expect(s.get("y")).toMatchObject({ state: "alive", address: "10.0.0.4", port: 7946 });
  expect(new TextDecoder().decode(s.get("y")?.meta)).toBe("m");
  s.swap(0, 2);
  expect([0, 1, 2].map((i) => s.at(i).name)).toEqual(["z", "y", "x"]);
  const gone = s.removeWhere((n) => n.state === "dead");
  expect(gone.map((n) => n.name)).toEqual(["z"]);
  expect(s.get("z")).toBeUndefined();
  expect([0, 1].map((i) => s.at(i).name)).toEqual(["y", "x"]);
});
