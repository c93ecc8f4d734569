import { describe, expect, test } from "bun:test";
import { remainingSuspicionMs, Suspicion, suspicionConfirmationsK, suspicionTimeoutMs } from "../../src/cluster/suspicion.ts";
import { TimingWheel } from "../../src/timer/wheel.ts";

function manualClock() {
  let t = 0;
  const now = () => t;
  const wheel = new TimingWheel({ tickMs: 1, manual: true, now });
  return {
    wheel,
    now,
    /** Moves the clock to `ms` and fires what is due. */
    to(ms: number) {
      t = ms;
      wheel.advance(ms);
    },
  };
}

describe("suspicion formula", () => {
  test("min timeout: mult × max(1, log10 n) × interval", () => {
    // the brief's example: N ≤ 10 with LAN defaults gives 4 s … 24 s
    for (const n of [1, 2, 5, 10]) expect(suspicionTimeoutMs(4, n, 1000)).toBe(4000);
    expect(suspicionTimeoutMs(4, 100, 1000)).toBe(8000);
    expect(suspicionTimeoutMs(4, 1000, 1000)).toBe(12000);
    expect(suspicionTimeoutMs(4, 0, 1000)).toBe(4000);
    expect(suspicionTimeoutMs(5, 50, 200)).toBe(Math.floor((5 * Math.floor(Math.log10(50) * 1000) * 200) / 1000));
  });

  test("k = mult−2, or 0 when fewer than k other nodes could confirm", () => {
    expect(suspicionConfirmationsK(4, 10)).toBe(2);
    expect(suspicionConfirmationsK(4, 4)).toBe(2);
    expect(suspicionConfirmationsK(4, 3)).toBe(0);
    expect(suspicionConfirmationsK(6, 5)).toBe(0);
    expect(suspicionConfirmationsK(6, 6)).toBe(4);
  });

  test("remaining time shrinks logarithmically from max to min", () => {
    // k=3, min 2 s, max 30 s (the same table memberlist's own tests use)
    expect(remainingSuspicionMs(0, 3, 0, 2000, 30000)).toBe(30000);
    expect(remainingSuspicionMs(1, 3, 2000, 2000, 30000)).toBe(14000);
    expect(remainingSuspicionMs(2, 3, 3000, 2000, 30000)).toBe(4810);
    expect(remainingSuspicionMs(3, 3, 4000, 2000, 30000)).toBe(-2000);
    expect(remainingSuspicionMs(4, 3, 5000, 2000, 30000)).toBe(-3000);
    expect(remainingSuspicionMs(5, 3, 10000, 2000, 30000)).toBe(-8000);
  });
});

describe("Suspicion timer", () => {
  test("fires at max without confirmations", () => {
    const c = manualClock();
    const fired: number[] = [];
    new Suspicion({ from: "a", k: 2, minMs: 4000, maxMs: 24000, wheel: c.wheel, now: c.now, onTimeout: (n) => fired.push(n) });
    c.to(23990);
    expect(fired).toEqual([]);
    c.to(24000);
    expect(fired).toEqual([0]);
    c.to(100000);
    expect(fired).toEqual([0]);
  });

  test("starts at min when k = 0", () => {
    const c = manualClock();
    const fired: number[] = [];
    new Suspicion({ from: "a", k: 0, minMs: 4000, maxMs: 24000, wheel: c.wheel, now: c.now, onTimeout: (n) => fired.push(n) });
    c.to(3999);
    expect(fired).toEqual([]);
    c.to(4000);
    expect(fired).toEqual([0]);
  });

  test("confirmations from distinct peers shorten the timeout; repeats and the accuser do not count", () => {
    const c = manualClock();
    const fired: [number, number][] = [];
    const s = new Suspicion({ from: "a", k: 2, minMs: 4000, maxMs: 24000, wheel: c.wheel, now: c.now, onTimeout: (n) => fired.push([n, c.now()]) });
    c.to(1000);
    expect(s.confirm("a")).toBe(false); // the accuser itself
    expect(s.confirm("b")).toBe(true);
    expect(s.confirm("b")).toBe(false);
    // c=1, k=2: 24000 − (ln2/ln3)·20000 = 11381 ms after the start
    const at1 = Math.floor(24000 - (Math.log(2) / Math.log(3)) * 20000);
    c.to(2000);
    expect(s.confirm("c")).toBe(true); // c=2 → min (4000 ms after start)
    expect(at1).toBeGreaterThan(4000);
    expect(s.confirm("d")).toBe(false); // k reached
    expect(s.numConfirmations).toBe(2);
    c.to(3999);
    expect(fired).toEqual([]);
    c.to(4000);
    expect(fired).toEqual([[2, 4000]]);
  });

  test("one confirmation moves the deadline to max − (ln2/ln(k+1))·(max−min)", () => {
    const c = manualClock();
    const fired: number[] = [];
    const s = new Suspicion({ from: "a", k: 2, minMs: 4000, maxMs: 24000, wheel: c.wheel, now: c.now, onTimeout: () => fired.push(c.now()) });
    c.to(1000);
    expect(s.confirm("b")).toBe(true);
    const at1 = Math.floor(24000 - (Math.log(2) / Math.log(3)) * 20000);
    c.to(at1 - 1);
    expect(fired).toEqual([]);
    c.to(at1 + 1);
    expect(fired.length).toBe(1);
  });

  test("a confirmation after the new deadline has passed fires immediately", () => {
    const c = manualClock();
    const fired: number[] = [];
    const s = new Suspicion({ from: "a", k: 1, minMs: 1000, maxMs: 6000, wheel: c.wheel, now: c.now, onTimeout: (n) => fired.push(n) });
    c.to(2000);
    expect(s.confirm("b")).toBe(true);
    expect(fired).toEqual([1]);
    c.to(10000);
    expect(fired).toEqual([1]);
  });

  test("cancel stops it", () => {
    const c = manualClock();
    let fired = 0;
    const s = new Suspicion({ from: "a", k: 2, minMs: 10, maxMs: 60, wheel: c.wheel, now: c.now, onTimeout: () => fired++ });
    s.cancel();
    expect(s.confirm("b")).toBe(false);
    c.to(1000);
    expect(fired).toBe(0);
  });
});
