import { describe, expect, test } from "bun:test";
import { configureLogging, type LogSink } from "../../src/log.ts";
import { TimerRangeError, TimingWheel, wheel as defaultWheel } from "../../src/timer/wheel.ts";

/** A wheel on a hand-moved clock. */
function manualWheel(opts: { tickMs?: number; wheelSize?: number; start?: number } = {}) {
  const clock = { t: opts.start ?? 0 };
  const w = new TimingWheel({ tickMs: opts.tickMs ?? 10, wheelSize: opts.wheelSize, manual: true, now: () => clock.t });
  const to = (t: number): void => {
    clock.t = t;
    w.advance();
  };
  return { w, clock, to };
}

/** Deterministic PRNG (mulberry32) so a failing property run can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("TimingWheel (manual clock)", () => {
  test("fires in deadline order, not before the deadline, within one tick after it", () => {
    const { w, clock, to } = manualWheel({ tickMs: 10 });
    const fired: Array<[string, number]> = [];
    for (const [name, d] of [["c", 45], ["a", 5], ["d", 100], ["b", 20]] as const) {
      w.schedule(d, () => fired.push([name, clock.t]));
    }
    expect(w.size).toBe(4);
    to(4.9);
    expect(fired).toEqual([]);
    to(10);
    expect(fired).toEqual([["a", 10]]);
    to(19.99);
    expect(fired.length).toBe(1);
    to(20);
    expect(fired.map((f) => f[0])).toEqual(["a", "b"]);
    to(1000);
    expect(fired.map((f) => f[0])).toEqual(["a", "b", "c", "d"]);
    expect(w.size).toBe(0);
  });

  test("a jump over many ticks fires everything due, tick by tick, in order", () => {
    const { w, to } = manualWheel({ tickMs: 1, wheelSize: 4 });
    const fired: number[] = [];
    const ticks: number[] = [];
    for (const d of [9, 3, 7, 1, 5]) w.schedule(d, () => { fired.push(d); ticks.push(w.tickTime); });
    to(100);
    expect(fired).toEqual([1, 3, 5, 7, 9]);
    expect(ticks).toEqual([1, 3, 5, 7, 9]);
  });

  test("same-tick entries fire in schedule order", () => {
    const { w, to } = manualWheel({ tickMs: 10 });
    const fired: number[] = [];
    for (let i = 0; i < 5; i++) w.schedule(3 + i, () => fired.push(i));
    to(10);
    expect(fired).toEqual([0, 1, 2, 3, 4]);
  });

  test("delay <= 0 fires on the next tick, never synchronously", () => {
    const { w, to } = manualWheel({ tickMs: 10, start: 3 });
    let fired = 0;
    w.schedule(0, () => fired++);
    w.schedule(-50, () => fired++);
    expect(fired).toBe(0);
    w.advance();
    expect(fired).toBe(0);
    to(12.9);
    expect(fired).toBe(0);
    to(13);
    expect(fired).toBe(2);
  });

  test("cancel: returns true only while pending, entry never fires, size drops", () => {
    const { w, to } = manualWheel();
    let fired = 0;
    const a = w.schedule(30, () => fired++);
    const b = w.schedule(30, () => fired++);
    expect(a.active).toBe(true);
    expect(w.size).toBe(2);
    expect(a.cancel()).toBe(true);
    expect(a.active).toBe(false);
    expect(a.cancel()).toBe(false);
    expect(w.size).toBe(1);
    to(30);
    expect(fired).toBe(1);
    expect(b.active).toBe(false);
    expect(b.cancel()).toBe(false); // already fired
    expect(w.size).toBe(0);
  });

  test("cancel of a neighbour from inside a callback in the same bucket", () => {
    const { w, to } = manualWheel();
    const fired: string[] = [];
    let second: { cancel(): boolean } | undefined;
    w.schedule(5, () => {
      fired.push("first");
      expect(second?.cancel()).toBe(true);
    });
    second = w.schedule(5, () => fired.push("second"));
    w.schedule(5, () => fired.push("third"));
    to(10);
    expect(fired).toEqual(["first", "third"]);
    expect(w.size).toBe(0);
  });

  test("rounds: delays many times the wheel span fire on time", () => {
    // span = 8 ticks * 5 ms = 40 ms; delays up to 250 spans.
    const { w, clock, to } = manualWheel({ tickMs: 5, wheelSize: 8 });
    const delays = [41, 80, 79.5, 400, 1234, 10_000, 10_003];
    const at = new Map<number, number>();
    for (const d of delays) w.schedule(d, () => at.set(d, w.tickTime));
    for (let t = 0; t <= 10_100; t += 2.5) {
      to(t);
      for (const [d, tick] of at) {
        expect(tick).toBeGreaterThanOrEqual(d);
        expect(tick).toBeLessThanOrEqual(d + 5);
        expect(clock.t).toBeGreaterThanOrEqual(d);
      }
    }
    expect([...at.keys()].sort((x, y) => x - y)).toEqual([...delays].sort((x, y) => x - y));
    expect(at.get(79.5)).toBe(80);
    expect(at.get(10_003)).toBe(10_005);
  });

  test("rescheduling from inside a callback goes to a later tick, also with delay 0", () => {
    const { w, to } = manualWheel({ tickMs: 10, wheelSize: 1 }); // one bucket: the hardest case
    const fired: number[] = [];
    let n = 0;
    const again = (): void => {
      fired.push(w.tickTime);
      if (++n < 4) w.schedule(0, again);
    };
    w.schedule(0, again);
    to(10);
    expect(fired).toEqual([10]);
    expect(w.size).toBe(1);
    to(20);
    to(30);
    expect(fired).toEqual([10, 20, 30]);
    // Delay 0 counts from now(): fired late in a jump to 45, the next one goes to 50.
    to(45);
    expect(fired).toEqual([10, 20, 30, 40]);
    expect(w.size).toBe(0);
    n = 0;
    w.schedule(0, again);
    to(45.5);
    to(50);
    to(55);
    expect(fired).toEqual([10, 20, 30, 40, 50]);
    expect(w.size).toBe(1);
  });

  test("a throwing callback is logged and the wheel keeps working", () => {
    const lines: string[] = [];
    const sink: LogSink = { write: (l) => lines.push(l) };
    configureLogging({ sink, format: "json" });
    try {
      const { w, to } = manualWheel();
      const fired: string[] = [];
      w.schedule(5, () => { throw new Error("boom"); });
      w.schedule(5, () => fired.push("same tick"));
      w.schedule(25, () => fired.push("later"));
      to(10);
      expect(fired).toEqual(["same tick"]);
      to(30);
      expect(fired).toEqual(["same tick", "later"]);
      const rec = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.component === "timer");
      expect(rec?.level).toBe("error");
      expect(rec?.err).toBe("boom");
    } finally {
      configureLogging({ sink: { write: (l) => process.stderr.write(l) } });
    }
  });

  test("stop cancels everything; the wheel is reusable; stop from a callback ends the pass", () => {
    const { w, to } = manualWheel();
    let fired = 0;
    const hs = [w.schedule(10, () => fired++), w.schedule(1000, () => fired++)];
    w.stop();
    expect(w.size).toBe(0);
    expect(hs.every((h) => !h.active)).toBe(true);
    expect(hs[0].cancel()).toBe(false);
    to(2000);
    expect(fired).toBe(0);

    w.schedule(10, () => { fired++; w.stop(); });
    w.schedule(10, () => fired++);
    w.schedule(50, () => fired++);
    to(2100);
    expect(fired).toBe(1);
    expect(w.size).toBe(0);
    w.schedule(10, () => fired++);
    to(2200);
    expect(fired).toBe(2);
  });

  test("an idle wheel does not replay the ticks it slept through", () => {
    const { w, to } = manualWheel({ tickMs: 10, wheelSize: 4 });
    to(1e9); // a long idle period
    let firedAt = -1;
    w.schedule(25, () => { firedAt = w.tickTime; });
    to(1e9 + 24);
    expect(firedAt).toBe(-1);
    to(1e9 + 30);
    expect(firedAt).toBe(1e9 + 30);
  });

  test("advance(toMs) drives time explicitly", () => {
    const w = new TimingWheel({ manual: true, tickMs: 10, now: () => 0 });
    let fired = 0;
    w.schedule(15, () => fired++);
    w.advance(19);
    expect(fired).toBe(0);
    w.advance(20);
    expect(fired).toBe(1);
  });

  test("options are validated and wheelSize is rounded up to a power of two", () => {
    expect(new TimingWheel({ manual: true, wheelSize: 100 }).wheelSize).toBe(128);
    expect(new TimingWheel({ manual: true }).wheelSize).toBe(512);
    expect(new TimingWheel({ manual: true }).tickMs).toBe(10);
    expect(() => new TimingWheel({ tickMs: 0 })).toThrow(TimerRangeError);
    expect(() => new TimingWheel({ wheelSize: 0 })).toThrow(TimerRangeError);
    expect(() => new TimingWheel({ manual: true }).schedule(NaN, () => {})).toThrow(TimerRangeError);
    expect(defaultWheel.tickMs).toBe(10);
  });
});

describe("TimingWheel property test against a reference model", () => {
  // The model knows nothing about buckets or rounds: it walks tick boundaries in order and fires every
  // pending entry whose deadline is <= the boundary and that was scheduled before that boundary was reached.
  interface ModelEntry { id: string; deadline: number; minTick: number; child?: number; done: boolean }

  function runCase(seed: number): void {
    const r = rng(seed);
    const tickMs = [1, 5, 10][Math.floor(r() * 3)];
    const wheelSize = [1, 2, 8, 64][Math.floor(r() * 4)];
    const start = Math.floor(r() * 10_000) + r();
    const span = tickMs * wheelSize;
    const clock = { t: start };
    const w = new TimingWheel({ manual: true, tickMs, wheelSize, now: () => clock.t });

    const model: ModelEntry[] = [];
    let modelNext = 1; // first unprocessed boundary index, as the model sees it
    const modelFired: Array<[string, number]> = [];
    const wheelFired: Array<[string, number]> = [];
    const handles = new Map<string, { cancel(): boolean; readonly active: boolean }>();
    const ctx = `seed=${seed} tick=${tickMs} size=${wheelSize}`;

    const boundaryIndex = (t: number): number => Math.round((t - start) / tickMs);

    const add = (id: string, delay: number, child: number | undefined): void => {
      model.push({ id, deadline: clock.t + Math.max(0, delay), minTick: modelNext, child, done: false });
      addToWheel(id, delay, child);
    };
    // The model adds children itself when it fires the parent; the wheel's callbacks add them to the wheel.
    const addToWheel = (id: string, delay: number, child: number | undefined): void => {
      const deadline = clock.t + Math.max(0, delay);
      handles.set(id, w.schedule(delay, () => {
        expect(clock.t, ctx).toBeGreaterThanOrEqual(deadline); // never early on the real clock
        expect(w.tickTime, ctx).toBeGreaterThanOrEqual(deadline);
        expect(w.tickTime, ctx).toBeLessThanOrEqual(deadline + tickMs + 1e-9); // at most one tick late
        wheelFired.push([id, boundaryIndex(w.tickTime)]);
        if (child !== undefined) addToWheel(`${id}.c`, child, undefined);
      }));
    };

    const modelAdvance = (to: number): void => {
      for (;;) {
        const b = start + modelNext * tickMs;
        if (b > to) break;
        const k = modelNext++;
        for (const e of model) {
          if (e.done || e.minTick > k || e.deadline > b) continue;
          e.done = true;
          modelFired.push([e.id, k]);
          if (e.child !== undefined) {
            const deadline = clock.t + Math.max(0, e.child);
            model.push({ id: `${e.id}.c`, deadline, minTick: modelNext, done: false });
          }
        }
      }
    };

    let nextId = 0;
    for (let step = 0; step < 400; step++) {
      const x = r();
      if (x < 0.45) {
        const kind = r();
        const delay = kind < 0.1 ? -r() * 10 : kind < 0.2 ? 0 : kind < 0.8 ? r() * span * 1.5 : r() * span * 20;
        const child = r() < 0.15 ? Math.floor(r() * span * 2) : undefined;
        add(String(nextId++), delay, child);
      } else if (x < 0.6) {
        const pending = model.filter((e) => !e.done);
        if (pending.length === 0) continue;
        const e = pending[Math.floor(r() * pending.length)];
        expect(handles.get(e.id)?.cancel(), ctx).toBe(true);
        e.done = true;
      } else {
        const jump = r() < 0.9 ? r() * tickMs * 3 : r() * span * 5;
        clock.t += jump;
        modelAdvance(clock.t);
        w.advance();
        const key = (a: [string, number]): string => `${a[0]}@${a[1]}`;
        expect(new Set(wheelFired.map(key)), ctx).toEqual(new Set(modelFired.map(key)));
        expect(w.size, ctx).toBe(model.filter((e) => !e.done).length);
      }
    }
    // Drain: everything still pending fires.
    for (let i = 0; i < 2; i++) { // twice: parents fired by the first drain add children
      clock.t += span * 25 + 1000;
      modelAdvance(clock.t);
      w.advance();
    }
    expect(wheelFired.length, ctx).toBe(modelFired.length);
    expect(w.size, ctx).toBe(0);
    for (let i = 1; i < wheelFired.length; i++) {
      expect(wheelFired[i][1], ctx).toBeGreaterThanOrEqual(wheelFired[i - 1][1]);
    }
  }

  test("200 seeded random schedule/cancel/advance sequences", () => {
    for (let seed = 1; seed <= 200; seed++) runCase(seed);
  });
});

describe("TimingWheel (real clock)", () => {
  test("timers of 20-100 ms fire no earlier than asked and within a loose bound", async () => {
    const w = new TimingWheel({ tickMs: 10 });
    const delays = [20, 35, 50, 100];
    const keepAlive = setInterval(() => {}, 1000); // the wheel's own timer is unref'd
    try {
      const results = await Promise.all(
        delays.map((d) => new Promise<number>((resolve) => {
          const t0 = performance.now();
          w.schedule(d, () => resolve(performance.now() - t0));
        })),
      );
      results.forEach((elapsed, i) => {
        expect(elapsed).toBeGreaterThanOrEqual(delays[i]);
        expect(elapsed).toBeLessThan(delays[i] + 1000);
      });
      expect(w.size).toBe(0);
      expect(w.armed).toBe(false);
    } finally {
      clearInterval(keepAlive);
    }
  });

  test("the JS timer is armed only while entries are pending", () => {
    const w = new TimingWheel({ tickMs: 10 });
    expect(w.armed).toBe(false);
    const a = w.schedule(60_000, () => {});
    const b = w.schedule(50, () => {});
    expect(w.armed).toBe(true);
    a.cancel();
    expect(w.armed).toBe(true);
    b.cancel();
    expect(w.armed).toBe(false);
    w.schedule(50, () => {});
    expect(w.armed).toBe(true);
    w.stop();
    expect(w.armed).toBe(false);
    const m = new TimingWheel({ manual: true });
    m.schedule(1, () => {});
    expect(m.armed).toBe(false); // manual wheels never arm a JS timer
  });

  test("a process whose only timers are on the wheel exits promptly (timer unref'd and disarmed)", async () => {
    const mod = new URL("../../src/timer/wheel.ts", import.meta.url).pathname;
    const script = `
      const { wheel } = await import(${JSON.stringify(mod)});
      const t = wheel.schedule(30_000, () => console.log("fired"));
      wheel.schedule(60_000, () => console.log("fired"));
      console.log("armed", wheel.armed, wheel.size);
      t.cancel();
      // let a tick pass so the wheel had a chance to wake, then fire a short one for real
      await new Promise((r) => setTimeout(r, 30));
      await new Promise((r) => {
        const keep = setTimeout(() => {}, 5000); // the wheel's timer is unref'd: hold the process open
        wheel.schedule(25, () => { clearTimeout(keep); r(); });
      });
      console.log("short fired", wheel.size);
    `;
    const t0 = performance.now();
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const exited = await Promise.race([child.exited, Bun.sleep(10_000).then(() => "timeout" as const)]);
    const elapsed = performance.now() - t0;
    if (exited === "timeout") child.kill();
    const out = await new Response(child.stdout).text();
    expect(exited).toBe(0);
    expect(out).toBe("armed true 2\nshort fired 1\n");
    expect(out).not.toContain("\nfired");
    // Well under the 30 s / 60 s the pending timers ask for.
    expect(elapsed).toBeLessThan(8_000);
  });
});
