import { describe, expect, test } from "bun:test";
import { bucketParams, charge, hasToken, take, waitMs } from "../../src/ratelimit/bucket.ts";

describe("bucket", () => {
  const p = bucketParams(10, 5);

  test("starts full, admits a burst, then one token per 1/rate", () => {
    const b = { tokens: 5, at: 0 };
    let admitted = 0;
    for (let i = 0; i < 8; i++) {
      if (hasToken(b, p, 0)) {
        take(b);
        admitted++;
      }
    }
    expect(admitted).toBe(5);
    expect(hasToken(b, p, 50)).toBe(false);
    expect(waitMs(b, p)).toBeCloseTo(50, 5);
    expect(hasToken(b, p, 100)).toBe(true);
  });

  test("refills up to burst, never more", () => {
    const b = { tokens: 0, at: 0 };
    hasToken(b, p, 60_000);
    expect(b.tokens).toBe(5);
  });

  test("charges from elsewhere drain it, down to the floor of 2 × (burst + rate)", () => {
    const b = { tokens: 5, at: 0 };
    charge(b, p, 3, 0, 0);
    expect(b.tokens).toBe(2);
    charge(b, p, 1000, 0, 0);
    expect(b.tokens).toBe(-30);
    expect(hasToken(b, p, 3000)).toBe(false);
    expect(hasToken(b, p, 3100)).toBe(true);
  });

  test("a charge applies as of `lag` ago: refill a full bucket would have dropped at the cap is kept", () => {
    // full since t=0; at t=1000 a charge arrives for a request admitted elsewhere ~50 ms earlier
    const b = { tokens: 5, at: 0 };
    charge(b, p, 5, 1000, 50);
    expect(b.tokens).toBeCloseTo(0.5, 5);
    const late = { tokens: 5, at: 0 };
    charge(late, p, 5, 1000, 0);
    expect(late.tokens).toBe(0);
  });
});
