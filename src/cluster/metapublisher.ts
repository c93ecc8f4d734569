// Publishes our healthy backend count in gossip metadata. Changes go out quickly (well within a
// gossip round) but at most once per `minGapMs`, so a flapping backend costs a few broadcasts per
// second at most; a value equal to what was last published is not re-sent.

import type { Timeout, TimingWheel } from "../timer/wheel.ts";
import { encodeNodeMeta, type NodeMeta } from "./nodemeta.ts";

export interface MetaSink {
  setMeta(meta: Uint8Array): void;
}

export class MetaPublisher {
  private published: NodeMeta;
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
    this.published = initial;
    this.wanted = initial;
  }

  get current(): NodeMeta {
    return this.published;
  }

  /** From now on changes go to `sink`, which already carries `published`. */
  attach(sink: MetaSink, published: NodeMeta): void {
    this.sink = sink;
    this.published = published;
    this.lastAt = this.now();
    // A change that arrived before attaching still goes out.
    this.update(this.wanted);
  }

  update(meta: NodeMeta): void {
    this.wanted = meta;
    if (this.timer) return;
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
    if (w.healthy === this.published.healthy && w.proxyPort === this.published.proxyPort) return;
    this.published = w;
    this.lastAt = this.now();
    if (this.sink) {
      this.sink.setMeta(encodeNodeMeta(w));
      this.sent++;
    }
  };
}
