// Timing wheel vs setTimeout/clearTimeout. Not a test: `bun bench/wheel.ts`.
//
// 1. schedule N timers (60 s, so nothing fires), measure heap/RSS while all are pending, cancel them all.
// 2. schedule 100k timers spread over 1-100 ms and let them fire: CPU per timer and lateness.
// Each case runs in a fresh GC'd state; numbers from a shared 2-core machine are indicative only.

import { heapStats } from "bun:jsc";
import { TimingWheel } from "../src/timer/wheel.ts";

interface Mem { heap: number; rss: number }

function mem(): Mem {
  Bun.gc(true);
  return { heap: heapStats().heapSize, rss: process.memoryUsage().rss };
}

const fmtOps = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(0)}k`);
const fmtBytes = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

interface Impl<H> { name: string; schedule(ms: number, fn: () => void): H; cancel(h: H): void }

function wheelImpl(): Impl<{ cancel(): boolean }> {
  const w = new TimingWheel({ tickMs: 10 });
  return { name: "wheel", schedule: (ms, fn) => w.schedule(ms, fn), cancel: (h) => void h.cancel() };
}

function setTimeoutImpl(): Impl<ReturnType<typeof setTimeout>> {
  return { name: "setTimeout", schedule: (ms, fn) => setTimeout(fn, ms), cancel: (h) => clearTimeout(h) };
}

interface CancelResult { name: string; n: number; scheduleOps: number; cancelOps: number; pairOps: number; heap: number; rss: number }

function scheduleCancel<H>(impl: Impl<H>, n: number): CancelResult {
  const handles = new Array<H>(n);
  const fn = (): void => { throw new Error("must not fire"); };
  const m0 = mem();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) handles[i] = impl.schedule(60_000 + (i & 1023), fn);
  const t1 = performance.now();
  const m1 = mem();
  const t2 = performance.now();
  for (let i = 0; i < n; i++) impl.cancel(handles[i]);
  const t3 = performance.now();
  const total = t1 - t0 + (t3 - t2);
  return {
    name: impl.name, n,
    scheduleOps: n / ((t1 - t0) / 1000),
    cancelOps: n / ((t3 - t2) / 1000),
    pairOps: n / (total / 1000),
    heap: m1.heap - m0.heap,
    rss: m1.rss - m0.rss,
  };
}

interface FireResult { name: string; n: number; wallMs: number; cpuUsPerTimer: number; lateP50: number; lateP99: number; lateMax: number; early: number }

async function scheduleFire<H>(impl: Impl<H>, n: number): Promise<FireResult> {
  const late = new Float64Array(n);
  let fired = 0;
  let early = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const keepAlive = setInterval(() => {}, 1000); // the wheel's timer is unref'd
  mem();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const delay = 1 + (i % 100);
    const due = performance.now() + delay;
    impl.schedule(delay, () => {
      const l = performance.now() - due;
      if (l < 0) early++;
      late[fired++] = l;
      if (fired === n) done();
    });
  }
  await all;
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(keepAlive);
  late.sort();
  return {
    name: impl.name, n, wallMs,
    cpuUsPerTimer: (cpu.user + cpu.system) / n,
    lateP50: late[Math.floor(n * 0.5)], lateP99: late[Math.floor(n * 0.99)], lateMax: late[n - 1], early,
  };
}

const rows: string[][] = [["case", "impl", "sched+cancel ops/s", "schedule ops/s", "cancel ops/s", "heap Δ (pending)", "RSS Δ (pending)"]];
for (const n of [100_000, 1_000_000]) {
  // Warm both paths once so the JIT does not bill the first contender.
  scheduleCancel(wheelImpl(), 10_000);
  scheduleCancel(setTimeoutImpl(), 10_000);
  const w = scheduleCancel(wheelImpl(), n);
  const s = scheduleCancel(setTimeoutImpl(), n);
  for (const r of [w, s]) {
    rows.push([`${fmtOps(n)} schedule+cancel`, r.name, fmtOps(r.pairOps), fmtOps(r.scheduleOps), fmtOps(r.cancelOps), fmtBytes(r.heap), fmtBytes(r.rss)]);
  }
  rows.push([`${fmtOps(n)} schedule+cancel`, "wheel/setTimeout", `${(w.pairOps / s.pairOps).toFixed(2)}x`, `${(w.scheduleOps / s.scheduleOps).toFixed(2)}x`,
    `${(w.cancelOps / s.cancelOps).toFixed(2)}x`, `${(w.heap / Math.max(1, s.heap)).toFixed(2)}x`, `${(w.rss / Math.max(1, s.rss)).toFixed(2)}x`]);
}
printTable(rows);

const fireRows: string[][] = [["case", "impl", "wall ms", "CPU µs/timer", "late p50 ms", "late p99 ms", "late max ms", "early"]];
const fw = await scheduleFire(wheelImpl(), 100_000);
const fs = await scheduleFire(setTimeoutImpl(), 100_000);
for (const r of [fw, fs]) {
  fireRows.push(["100k fire (1-100 ms)", r.name, r.wallMs.toFixed(0), r.cpuUsPerTimer.toFixed(2), r.lateP50.toFixed(2), r.lateP99.toFixed(2), r.lateMax.toFixed(2), String(r.early)]);
}
fireRows.push(["100k fire (1-100 ms)", "wheel/setTimeout", (fw.wallMs / fs.wallMs).toFixed(2) + "x", (fw.cpuUsPerTimer / fs.cpuUsPerTimer).toFixed(2) + "x", "", "", "", ""]);
console.log();
printTable(fireRows);
console.log("\nwheel: tickMs 10, wheelSize 512; a wheel timer fires at the first 10 ms tick at or after its deadline, so ~5 ms median lateness is by design.");

function printTable(t: string[][]): void {
  const widths = t[0].map((_, c) => Math.max(...t.map((r) => r[c].length)));
  for (const r of t) console.log(r.map((v, c) => (c < 2 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join("  "));
}
