// Request rate, error share and latency for the status page, derived from the ProxyStats counters.
// The proxy only bumps numbers; once per second this samples the cumulative counters and keeps a
// short ring of samples, so rates and latency quantiles are differences between two samples.
// The counters are read through ProxyStats.dump(), the same plain-data view workers report with.

import { LATENCY_BUCKETS_S } from "../metrics/index.ts";
import type { ProxyStats } from "../proxy/stats.ts";

/** What the status page shows about this node's traffic. */
export interface TrafficSnapshot {
  /** Seconds covered by the rates and latencies below (shorter right after start). */
  window_s: number;
  /** Answered requests per second (proxied plus the node's own answers). */
  rps: number;
  /** 5xx from upstream plus the node's own 5xx answers, per second. */
  errors_ps: number;
  /** errors / requests in the window; null when there were no requests. */
  error_ratio: number | null;
  /** Share of requests the node answered itself (413, 502, 503, 504), null without requests. */
  local_ratio: number | null;
  /** Failed upstream attempts per second (connect, timeout, broken), retried or not. */
  upstream_errors_ps: number;
  /** Upstream time to response headers, estimated from the histogram; null without responses. */
  p50_ms: number | null;
  p99_ms: number | null;
  mean_ms: number | null;
  /** True when p99 lies beyond the largest histogram bucket (then it shows that bound). */
  p99_overflow: boolean;
  in_flight: number;
  /** Cumulative since start. */
  total_requests: number;
  total_errors: number;
  /** Requests and errors per second, one entry per second, oldest first. */
  history: { rps: number[]; errors_ps: number[] };
}

/** One reading of the cumulative counters. */
export interface TrafficSample {
  /** performance.now() at the reading. */
  at: number;
  requests: number;
  errors: number;
  local: number;
  upstreamErrors: number;
  /** Cumulative histogram bucket counts, one per finite bound, then +Inf. */
  buckets: number[];
  latencyCount: number;
  latencySum: number;
}

/** Reads the cumulative counters of a ProxyStats now. */
export function readStats(stats: ProxyStats, at: number): TrafficSample {
  const d = stats.dump();
  let requests = 0;
  let errors = 0;
  let upstreamErrors = 0;
  for (const [, , byClass, failed] of d.targets) {
    // Protocol-major: every fifth slot, from the fifth, is a 5xx.
    byClass.forEach((n, i) => {
      requests += n;
      if (i % 5 === 4) errors += n;
    });
    upstreamErrors += failed;
  }
  let local = 0;
  for (const [status, n] of d.local) {
    requests += n;
    local += n;
    if (status >= 500) errors += n;
  }
  // Cumulative bucket counts, then +Inf (= every observation), as Prometheus renders them.
  const buckets: number[] = [];
  let cum = 0;
  for (const n of d.latency.counts) buckets.push((cum += n));
  buckets.push(d.latency.count);
  return { at, requests, errors, local, upstreamErrors, buckets, latencyCount: d.latency.count, latencySum: d.latency.sum };
}

/**
 * The q-quantile of the observations between two cumulative histogram readings, interpolated
 * linearly inside the bucket it falls in (as Prometheus' histogram_quantile does).
 * Returns seconds, or null without observations; `overflow` when it falls in the +Inf bucket.
 */
export function quantile(
  q: number,
  bounds: readonly number[],
  from: readonly number[],
  to: readonly number[],
): { value: number; overflow: boolean } | null {
  const n = bounds.length;
  const total = (to[n] ?? 0) - (from[n] ?? 0);
  if (total <= 0) return null;
  const rank = q * total;
  let prevCum = 0;
  for (let i = 0; i < n; i++) {
    const cum = (to[i] ?? 0) - (from[i] ?? 0);
    if (cum >= rank && cum > prevCum) {
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      const upper = bounds[i]!;
      return { value: lower + ((upper - lower) * (rank - prevCum)) / (cum - prevCum), overflow: false };
    }
    prevCum = cum;
  }
  return { value: bounds[n - 1] ?? 0, overflow: true };
}

export interface TrafficSamplerOptions {
  /** Seconds the rates and quantiles cover (default 10). */
  windowS?: number;
  /** Seconds of per-second history kept for the sparkline (default 60). */
  historyS?: number;
  /** Histogram upper bounds in seconds, as ProxyStats declares them. */
  bounds?: readonly number[];
}

export class TrafficSampler {
  private readonly samples: TrafficSample[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly windowS: number;
  private readonly historyS: number;
  private readonly bounds: readonly number[];

  constructor(
    private readonly stats: ProxyStats,
    opts: TrafficSamplerOptions = {},
  ) {
    this.windowS = opts.windowS ?? 10;
    this.historyS = opts.historyS ?? 60;
    this.bounds = opts.bounds ?? LATENCY_BUCKETS_S;
  }

  /** Samples now and then once per second until stop(). */
  start(): void {
    if (this.timer) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), 1000);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Takes one reading; public so tests can drive time themselves. */
  sample(at: number = performance.now()): void {
    this.samples.push(readStats(this.stats, at));
    const keep = Math.max(this.windowS, this.historyS) + 1;
    if (this.samples.length > keep) this.samples.splice(0, this.samples.length - keep);
  }

  snapshot(): TrafficSnapshot {
    const s = this.samples;
    const last = s[s.length - 1] ?? readStats(this.stats, performance.now());
    const first = s[Math.max(0, s.length - 1 - this.windowS)] ?? last;
    const dt = (last.at - first.at) / 1000;
    const per = (a: number, b: number) => (dt > 0 ? (b - a) / dt : 0);
    const reqs = last.requests - first.requests;
    const errs = last.errors - first.errors;
    const count = last.latencyCount - first.latencyCount;
    const p50 = quantile(0.5, this.bounds, first.buckets, last.buckets);
    const p99 = quantile(0.99, this.bounds, first.buckets, last.buckets);
    const rps: number[] = [];
    const errorsPs: number[] = [];
    for (let i = Math.max(1, s.length - this.historyS); i < s.length; i++) {
      const a = s[i - 1]!;
      const b = s[i]!;
      const secs = (b.at - a.at) / 1000 || 1;
      rps.push(round((b.requests - a.requests) / secs));
      errorsPs.push(round((b.errors - a.errors) / secs));
    }
    return {
      window_s: round(dt),
      rps: round(per(first.requests, last.requests)),
      errors_ps: round(per(first.errors, last.errors)),
      error_ratio: reqs > 0 ? round(errs / reqs, 4) : null,
      local_ratio: reqs > 0 ? round((last.local - first.local) / reqs, 4) : null,
      upstream_errors_ps: round(per(first.upstreamErrors, last.upstreamErrors)),
      p50_ms: p50 ? round(p50.value * 1000) : null,
      p99_ms: p99 ? round(p99.value * 1000) : null,
      mean_ms: count > 0 ? round(((last.latencySum - first.latencySum) / count) * 1000) : null,
      p99_overflow: p99?.overflow ?? false,
      in_flight: this.stats.readInFlight(),
      total_requests: last.requests,
      total_errors: last.errors,
      history: { rps, errors_ps: errorsPs },
    };
  }
}

function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
