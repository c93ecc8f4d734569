// Request counters the admin API exposes. Each target (local backend or peer node) of each pool gets
// its slots once; the request path only bumps numbers.

import { CallbackGauge, Counter, Histogram, type HistogramSnapshot, LATENCY_BUCKETS_S, type Registry } from "../metrics/index.ts";
import { CLIENT_PROTOCOLS, type ProtocolIndex } from "./protocol.ts";

const CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;

/** Everything a worker process counted, sent to the primary to be summed (plain data for IPC). */
export interface StatsDump {
  /** byClass: protocol-major (index = protocol × 5 + class), see TargetStats. */
  targets: [pool: string, name: string, byClass: number[], errors: number][];
  local: [status: number, count: number][];
  latency: HistogramSnapshot;
  retries: number;
  inFlight: number;
  /** Access log lines lost so far: dropped, in failed writes. */
  accessLogLost: [dropped: number, failed: number];
}

export interface TargetStats {
  /** One slot per client protocol and status class: index = protocol × 5 + class (1xx..5xx). */
  byClass: { value: number }[];
  errors: { value: number };
}

export class ProxyStats {
  readonly requests = new Counter("clusterclub_requests_total", "Proxied requests by pool, upstream target, client protocol and status class");
  readonly upstreamErrors = new Counter("clusterclub_upstream_errors_total", "Failed upstream attempts by pool and target");
  readonly localAnswers = new Counter("clusterclub_local_responses_total", "Answers made by the node itself, by status");
  readonly latency = new Histogram("clusterclub_upstream_response_seconds", "Time from forwarding to upstream response headers", LATENCY_BUCKETS_S);
  readonly retries = new Counter("clusterclub_retries_total", "Requests sent to another target after a failed attempt");
  private readonly lostLines = new Counter(
    "clusterclub_access_log_lost_lines_total",
    "Access log lines not written: dropped while the disk could not keep up, or in a write that failed",
  );
  /** The access log's writer counts into these (accesslog/writer.ts). */
  readonly accessLogLost = { dropped: this.lostLines.slot({ reason: "dropped" }), failed: this.lostLines.slot({ reason: "write_failed" }) };
  /** Keyed by "<pool> <target>" (a pool name has no space). */
  private readonly targets = new Map<string, TargetStats & { pool: string; name: string }>();
  private readonly localSlots = new Map<number, { value: number }>();
  private readonly retrySlot = this.retries.slot();
  /** Requests being proxied now; set by whoever owns the listener(s). */
  readInFlight: () => number = () => 0;

  register(reg: Registry): void {
    reg.add(this.requests);
    reg.add(this.upstreamErrors);
    reg.add(this.localAnswers);
    reg.add(this.latency);
    reg.add(this.retries);
    reg.add(this.lostLines);
    reg.add(new CallbackGauge("clusterclub_requests_in_flight", "Requests being proxied now", () => [{ labels: {}, value: this.readInFlight() }]));
  }

  target(pool: string, name: string): TargetStats {
    const key = pool + " " + name;
    let t = this.targets.get(key);
    if (!t) {
      t = {
        pool,
        name,
        byClass: CLIENT_PROTOCOLS.flatMap((protocol) => CLASSES.map((c) => this.requests.slot({ pool, target: name, protocol, class: c }))),
        errors: this.upstreamErrors.slot({ pool, target: name }),
      };
      this.targets.set(key, t);
    }
    return t;
  }

  recordResponse(t: TargetStats, status: number, seconds: number, protocol: ProtocolIndex = 0): void {
    const c = ((status / 100) | 0) - 1;
    if (c >= 0 && c < 5) t.byClass[protocol * 5 + c]!.value++;
    this.latency.observe(seconds);
  }

  dump(): StatsDump {
    return {
      targets: [...this.targets.values()].map((t) => [t.pool, t.name, t.byClass.map((s) => s.value), t.errors.value]),
      local: [...this.localSlots].map(([status, s]) => [status, s.value]),
      latency: this.latency.snapshot(),
      retries: this.retrySlot.value,
      inFlight: this.readInFlight(),
      accessLogLost: [this.accessLogLost.dropped.value, this.accessLogLost.failed.value],
    };
  }

  /** Adds what a worker counted since its previous dump (`prev` undefined: since it started). */
  addDelta(prev: StatsDump | undefined, next: StatsDump): void {
    const before = new Map(prev?.targets.map(([pool, n, c, e]) => [pool + " " + n, { c, e }]) ?? []);
    for (const [pool, name, byClass, errors] of next.targets) {
      const t = this.target(pool, name);
      const p = before.get(pool + " " + name);
      byClass.forEach((v, i) => {
        t.byClass[i]!.value += v - (p?.c[i] ?? 0);
      });
      t.errors.value += errors - (p?.e ?? 0);
    }
    const localBefore = new Map(prev?.local ?? []);
    for (const [status, n] of next.local) this.localSlot(status).value += n - (localBefore.get(status) ?? 0);
    if (prev) this.latency.addSnapshot(prev.latency, -1);
    this.latency.addSnapshot(next.latency);
    this.retrySlot.value += next.retries - (prev?.retries ?? 0);
    this.accessLogLost.dropped.value += next.accessLogLost[0] - (prev?.accessLogLost[0] ?? 0);
    this.accessLogLost.failed.value += next.accessLogLost[1] - (prev?.accessLogLost[1] ?? 0);
  }

  private localSlot(status: number): { value: number } {
    let s = this.localSlots.get(status);
    if (!s) {
      s = this.localAnswers.slot({ status: String(status) });
      this.localSlots.set(status, s);
    }
    return s;
  }

  recordRetry(): void {
    this.retrySlot.value++;
  }

  recordLocal(status: number): void {
    this.localSlot(status).value++;
  }
}
