// The slow-node model: a node whose event loop stalled runs, when it wakes, its overdue timers and the code
// awaiting them before the packets that queued meanwhile (so a probe times out with its ack in the queue);
// with only its receive path blocked, its timers keep firing during the stall.
import { expect, test } from "bun:test";
import { World } from "../../sim/world.ts";

async function twoNodes(): Promise<World> {
  const world = new World(3, { loss: 0, latencyMs: [5, 5] }, { memberEvent: () => {} });
  await world.settle(2, { pushPullIntervalMs: 0, probeIntervalMs: 60_000, gossipIntervalMs: 60_000 });
  await world.run(100);
  return world;
}

function packetTo(world: World, to: number, what: string, order: string[]): void {
  const [a, b] = [world.nodes[1 - to], world.nodes[to]];
  world.carry({ address: a.address, port: 7946 }, { address: b.address, port: 7946 }, "packet", 1, () => order.push(what));
}

test("loop stall: on waking, overdue timers and their awaiting code run before the queued packets", async () => {
  const world = await twoNodes();
  const order: string[] = [];
  const slow = world.nodes[0];
  slow.wheel.schedule(200, async () => {
    order.push(`timer@${world.now}`);
    await Promise.resolve();
    order.push("after await");
  });
  world.stall(slow, 1000, "loop");
  const t0 = world.now;
  packetTo(world, 0, "packet", order);
  await world.run(t0 + 500);
  expect(order).toEqual([]);
  await world.run(t0 + 1100);
  expect(order).toEqual([`timer@${t0 + 1000}`, "after await", "packet"]);
});

test("receive stall: timers fire on time, packets wait for the end of the stall", async () => {
  const world = await twoNodes();
  const order: string[] = [];
  const slow = world.nodes[0];
  const t0 = world.now;
  slow.wheel.schedule(200, () => order.push("timer"));
  world.stall(slow, 1000, "recv");
  packetTo(world, 0, "packet", order);
  await world.run(t0 + 500);
  expect(order).toEqual(["timer"]);
  await world.run(t0 + 1100);
  expect(order).toEqual(["timer", "packet"]);
});
