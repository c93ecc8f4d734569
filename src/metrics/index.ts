// The one metrics module every producer uses: series types, the registry that renders them in
// Prometheus text format, label formatting (escaped once, here) and the shared histogram bounds.
// Request-path updates are plain number increments: label sets are resolved to slots once, not per request.

export type Labels = Record<string, string>;

/** A label value as Prometheus text wants it: backslash, double quote and newline escaped. */
function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** `{k="v",…}`, or nothing for no labels. */
function labelText(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return "";
  return `{${keys.map((k) => `${k}="${escapeLabelValue(labels[k]!)}"`).join(",")}}`;
}

export type SeriesType = "counter" | "gauge" | "histogram";

/** One metric family: HELP and TYPE lines, then a sample per label set. */
export function writeFamily(out: string[], name: string, help: string, type: SeriesType, rows: Iterable<{ labels: Labels; value: number }>): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  for (const { labels, value } of rows) out.push(`${name}${labelText(labels)} ${value}`);
}

/** Upstream latency histogram bounds in seconds: the /metrics histogram and the status page's quantiles. */
export const LATENCY_BUCKETS_S: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface Series {
  render(out: string[]): void;
}

export class Counter implements Series {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly kind: "counter" | "gauge" = "counter",
  ) {}

  /** A handle for one label set; keep it and call inc() on the hot path. */
  slot(labels: Labels = {}): { value: number } {
    const key = labelText(labels);
    let s = this.values.get(key);
    if (!s) {
      s = { labels, value: 0 };
      this.values.set(key, s);
    }
    return s;
  }

  inc(labels: Labels = {}, by = 1): void {
    this.slot(labels).value += by;
  }

  set(labels: Labels, value: number): void {
    this.slot(labels).value = value;
  }

  render(out: string[]): void {
    writeFamily(out, this.name, this.help, this.kind, this.values.values());
  }
}

/** A gauge (or a counter kept elsewhere) whose values are read at scrape time. */
export class CallbackGauge implements Series {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => { labels: Labels; value: number }[],
    private readonly type: "gauge" | "counter" = "gauge",
  ) {}
  render(out: string[]): void {
    writeFamily(out, this.name, this.help, this.type, this.read());
  }
}

export interface HistogramSnapshot {
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram implements Series {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
  ) {
    this.counts = buckets.map(() => 0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }

  /** A copy of the counts (per finite bucket, not cumulative), sum and count. */
  snapshot(): HistogramSnapshot {
    return { counts: [...this.counts], sum: this.sum, count: this.count };
  }

  /** Adds observations recorded elsewhere (another process). */
  addSnapshot(s: HistogramSnapshot, sign = 1): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += sign * (s.counts[i] ?? 0);
    this.sum += sign * s.sum;
    this.count += sign * s.count;
  }

  render(out: string[]): void {
    writeFamily(out, this.name, this.help, "histogram", []);
    let cum = 0;
    this.buckets.forEach((le, i) => {
      cum += this.counts[i]!;
      out.push(`${this.name}_bucket{le="${le}"} ${cum}`);
    });
    out.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.count}`);
  }
}

export class Registry {
  private readonly series: Series[] = [];
  add<T extends Series>(s: T): T {
    this.series.push(s);
    return s;
  }
  render(): string {
    const out: string[] = [];
    for (const s of this.series) s.render(out);
    return out.join("\n") + "\n";
  }
}
