// Publishes our healthy backend counts (per pool) in gossip metadata. Changes go out quickly (well within a
// gossip round) but at most once per `minGapMs`, so a flapping backend costs a few broadcasts per
// second at most; a value equal to what was last announced is not re-sent.

import type { Timeout, TimingWheel } from "../timer/wheel.ts";
import type { NodeMeta } from "./nodemeta.ts";

/** The engine side: re-reads our metadata (through announce()) and gossips it. */
export interface MetaSink {
  updateNode(): void;
}

export class MetaPublisher {
  private announced: NodeMeta | null = null;
  private wanted: NodeMeta;
  private lastAt = Number.NEGATIVE_INFINITY;
  private timer: Timeout | null = null;
  private sink: MetaSink | null = null;
  /** Broadcasts actually sent (for metrics and the flapping test). */
  sent = 0;

  constructor(
    initial: NodeMeta,
    private readonly wheel: TimingWheel,
    private readonly minGapMs = 200,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.wanted = initial;
  }

  /** The latest value given to update(). */
  get current(): NodeMeta {
    return this.wanted;
  }

  /** What to put in our metadata now; the engine's delegate calls it whenever it (re)builds our alive message. */
  announce(): NodeMeta {
    this.announced = this.wanted;
    this.lastAt = this.now();
    return this.wanted;
  }

  /** From now on changes go to `sink`; one made since its last announce() still goes out. */
  attach(sink: MetaSink): void {
    this.sink = sink;
    this.update(this.wanted);
  }

  update(meta: NodeMeta): void {
    this.wanted = meta;
    if (this.timer || !this.sink) return;
    const wait = Math.max(0, this.lastAt + this.minGapMs - this.now());
    this.timer = this.wheel.schedule(wait, this.flush);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
    this.sink = null;
  }

  private flush = (): void => {
    this.timer = null;
    const w = this.wanted;
    const a = this.announced;
    if (!this.sink || (a && sameMeta(a, w))) return;
    this.sink.updateNode();
    this.sent++;
  };
}

function sameMeta(a: NodeMeta, b: NodeMeta): boolean {
  if (a.healthy !== b.healthy || a.proxyPort !== b.proxyPort || a.pools.size !== b.pools.size) return false;
  for (const [id, n] of a.pools) if (b.pools.get(id) !== n) return false;
  return true;
}
