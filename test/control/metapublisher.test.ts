import { describe, expect, test } from "bun:test";
import { MetaPublisher } from "../../src/control/metapublisher.ts";
import { TimingWheel } from "../../src/timer/wheel.ts";

const NONE = new Map<number, number>();

function setup() {
  let t = 0;
  const wheel = new TimingWheel({ manual: true, tickMs: 10, now: () => t });
  const sent: number[] = [];
  const pub = new MetaPublisher({ healthy: 2, proxyPort: 8080, pools: NONE }, wheel, 200, () => t);
  // The engine announces the initial value at start, then re-reads it on every updateNode().
  pub.announce();
  pub.attach({ updateNode: () => sent.push(pub.announce().healthy) });
  const advance = (ms: number) => {
    for (let i = 0; i < ms; i += 10) {
      t += 10;
      wheel.advance();
    }
  };
  return { pub, sent, advance };
}

describe("metadata publisher", () => {
  test("a change goes out within one gap; the latest value wins", () => {
    const { pub, sent, advance } = setup();
    pub.update({ healthy: 1, proxyPort: 8080, pools: NONE });
    pub.update({ healthy: 0, proxyPort: 8080, pools: NONE });
    advance(250);
    expect(sent).toEqual([0]);
  });

  test("a flapping count costs at most one broadcast per gap, and none when it ends where it was", () => {
    const { pub, sent, advance } = setup();
    for (let i = 0; i < 100; i++) {
      pub.update({ healthy: i % 2 === 0 ? 1 : 2, proxyPort: 8080, pools: NONE });
      advance(20); // 50 flips per second
    }
    // 2 s of flapping at ≤ 5 broadcasts/s.
    expect(sent.length).toBeLessThanOrEqual(11);
    expect(sent.length).toBeGreaterThan(0);
    advance(500);
    expect(pub.current.healthy).toBe(2);
  });

  test("a change in one pool's count goes out", () => {
    const { pub, sent, advance } = setup();
    pub.update({ healthy: 2, proxyPort: 8080, pools: new Map([[7, 1]]) });
    advance(250);
    pub.update({ healthy: 2, proxyPort: 8080, pools: new Map([[7, 0]]) });
    advance(250);
    pub.update({ healthy: 2, proxyPort: 8080, pools: new Map([[7, 0]]) });
    advance(250);
    expect(sent).toEqual([2, 2]);
  });

  test("an unchanged value is not re-sent", () => {
    const { pub, sent, advance } = setup();
    pub.update({ healthy: 2, proxyPort: 8080, pools: NONE });
    advance(500);
    expect(sent).toEqual([]);
  });
});
