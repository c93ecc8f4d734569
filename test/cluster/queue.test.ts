import { describe, expect, test } from "bun:test";
import { retransmitLimit, TransmitLimitedQueue } from "../../src/cluster/queue.ts";

const msg = (s: string) => new TextEncoder().encode(s);
const text = (bs: Uint8Array[]) => bs.map((b) => new TextDecoder().decode(b));

describe("retransmitLimit", () => {
  test("mult × ceil(log10(N+1))", () => {
    expect(retransmitLimit(4, 0)).toBe(0);
    expect(retransmitLimit(4, 1)).toBe(4);
    expect(retransmitLimit(4, 2)).toBe(4);
    expect(retransmitLimit(4, 9)).toBe(4);
    expect(retransmitLimit(4, 10)).toBe(8);
    expect(retransmitLimit(4, 99)).toBe(8);
    expect(retransmitLimit(4, 100)).toBe(12);
    expect(retransmitLimit(3, 50)).toBe(6);
  });
});

describe("TransmitLimitedQueue", () => {
  test("each message is sent exactly the retransmit limit, then finished", () => {
    const q = new TransmitLimitedQueue(() => 2, 4); // limit 4
    let finished = 0;
    q.queue({ name: "a", message: msg("alpha"), finished: () => finished++ });
    let sends = 0;
    for (let i = 0; i < 10; i++) sends += q.getBroadcasts(2, 1400).length;
    expect(sends).toBe(4);
    expect(finished).toBe(1);
    expect(q.size).toBe(0);
  });

  test("limit grows with the cluster size", () => {
    let n = 10;
    const q = new TransmitLimitedQueue(() => n, 2); // limit 2 × ceil(log10 11) = 4
    q.queue({ message: msg("x") });
    let sends = 0;
    for (let i = 0; i < 10; i++) sends += q.getBroadcasts(0, 100).length;
    expect(sends).toBe(4);
    n = 1;
    q.queue({ message: msg("y") });
    sends = 0;
    for (let i = 0; i < 10; i++) sends += q.getBroadcasts(0, 100).length;
    expect(sends).toBe(2);
  });

  test("a newer broadcast with the same name replaces the queued one", () => {
    const q = new TransmitLimitedQueue(() => 2, 4);
    const done: string[] = [];
    q.queue({ name: "n1", message: msg("old"), finished: () => done.push("old") });
    q.queue({ name: "n2", message: msg("other") });
    q.queue({ name: "n1", message: msg("new"), finished: () => done.push("new") });
    expect(q.size).toBe(2);
    expect(done).toEqual(["old"]);
    expect(text(q.getBroadcasts(0, 1400)).sort()).toEqual(["new", "other"]);
  });

  test("unnamed broadcasts never replace each other", () => {
    const q = new TransmitLimitedQueue(() => 2, 4);
    q.queue({ message: msg("a") });
    q.queue({ message: msg("a") });
    expect(q.size).toBe(2);
  });

  test("fewest-transmitted first, then longest, then newest", () => {
    const q = new TransmitLimitedQueue(() => 100, 10);
    q.queue({ name: "1", message: msg("aa") });
    q.queue({ name: "2", message: msg("bbbb") });
    // both sent once: now at 1 transmit each
    expect(text(q.getBroadcasts(0, 1000))).toEqual(["bbbb", "aa"]);
    q.queue({ name: "3", message: msg("c") });
    q.queue({ name: "4", message: msg("d") });
    // 0-transmit entries first; equal length → newest first
    expect(text(q.getBroadcasts(0, 2))).toEqual(["d", "c"]);
    expect(text(q.getBroadcasts(0, 1000))).toEqual(["bbbb", "aa", "d", "c"]);
  });

  test("packs within the byte budget, counting per-message overhead", () => {
    const q = new TransmitLimitedQueue(() => 2, 4);
    for (let i = 0; i < 10; i++) q.queue({ name: String(i), message: new Uint8Array(100).fill(i) });
    const got = q.getBroadcasts(2, 350); // 102 per message → 3 fit
    expect(got.length).toBe(3);
    const small = new TransmitLimitedQueue(() => 2, 4);
    small.queue({ message: new Uint8Array(500) });
    small.queue({ message: new Uint8Array(10) });
    // the big one does not fit, the small one still goes
    expect(small.getBroadcasts(2, 100).map((b) => b.length)).toEqual([10]);
  });

  test("prune keeps the least-transmitted, reset finishes everything", () => {
    const q = new TransmitLimitedQueue(() => 2, 4);
    let finished = 0;
    for (let i = 0; i < 5; i++) q.queue({ name: String(i), message: msg(`m${i}`), finished: () => finished++ });
    q.prune(3);
    expect(q.size).toBe(3);
    expect(finished).toBe(2);
    q.reset();
    expect(q.size).toBe(0);
    expect(finished).toBe(5);
    // the name index was cleared too: re-queueing a pruned name does not finish anything
    q.queue({ name: "0", message: msg("again") });
    expect(finished).toBe(5);
  });
});
