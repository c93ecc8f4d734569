import { expect, test } from "bun:test";
import { Deadlines, type DeadlineList, type Expiring } from "../../src/proxy/deadlines.ts";
import { until } from "../helpers/wait.ts";

class Waiter implements Expiring {
  deadlineAt = 0;
  deadlinePrev: Expiring | null = null;
  deadlineNext: Expiring | null = null;
  deadlineList: DeadlineList | null = null;
  expiredAt = -1;
  constructor(readonly name: string, private readonly log: string[]) {}
  expire(): void {
    this.expiredAt = performance.now();
    this.log.push(this.name);
  }
}

test("deadlines fire in order, not before they are due, and removed ones never fire", async () => {
  const d = new Deadlines();
  const log: string[] = [];
  const list = d.list(120);
  const [a, b, c] = ["a", "b", "c"].map((n) => new Waiter(n, log));
  const t0 = performance.now();
  list.add(a!, t0);
  list.add(b!, t0 + 1);
  list.add(c!, t0 + 2);
  list.remove(b!);
  await until(() => log.length === 2, 2000, 5);
  expect(log).toEqual(["a", "c"]);
  expect(a!.expiredAt - t0).toBeGreaterThanOrEqual(120);
  expect(b!.expiredAt).toBe(-1);
  expect(list.empty).toBe(true);
});

test("a new timeout value gets its own list, so a shorter timeout after a reload is not held behind longer ones", async () => {
  const d = new Deadlines();
  const log: string[] = [];
  const long = new Waiter("long", log);
  const short = new Waiter("short", log);
  d.list(5_000).add(long, performance.now());
  d.list(50).add(short, performance.now());
  await until(() => log.length === 1, 2000, 5);
  expect(log).toEqual(["short"]);
  d.list(5_000).remove(long);
});
