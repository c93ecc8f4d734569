import { describe, expect, test } from "bun:test";
import { Awareness } from "../../src/cluster/awareness.ts";

describe("Awareness", () => {
  test("score is clamped to [0, max-1]", () => {
    const a = new Awareness(8);
    expect(a.score).toBe(0);
    expect(a.applyDelta(-1)).toBe(0);
    expect(a.applyDelta(3)).toBe(3);
    expect(a.applyDelta(10)).toBe(7);
    expect(a.applyDelta(-2)).toBe(5);
    expect(a.applyDelta(-100)).toBe(0);
  });

  test("scaleTimeout multiplies by score+1", () => {
    const a = new Awareness(8);
    expect(a.scaleTimeout(1000)).toBe(1000);
    a.applyDelta(1);
    expect(a.scaleTimeout(1000)).toBe(2000);
    a.applyDelta(100);
    expect(a.scaleTimeout(1000)).toBe(8000);
  });

  test("rejects a nonsensical max", () => {
    expect(() => new Awareness(0)).toThrow(RangeError);
  });
});
