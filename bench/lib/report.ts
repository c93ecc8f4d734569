// Small formatting helpers for the benchmark tables.

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function fmtRate(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0);
}

export function fmtLatency(us: number): string {
  if (us < 1000) return `${us.toFixed(0)}µs`;
  if (us < 10_000) return `${(us / 1000).toFixed(2)}ms`;
  return `${(us / 1000).toFixed(1)}ms`;
}

export function fmtBytes(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)}M`;
}

export function fmtRatio(r: number | null | undefined): string {
  return r === null || r === undefined || Number.isNaN(r) ? "" : r.toFixed(2);
}

/** Left-align the first two columns, right-align the rest; returns the text. */
export function printTable(t: string[][]): string {
  const widths = t[0].map((_, c) => Math.max(...t.map((r) => [...r[c]].length)));
  const pad = (v: string, w: number, left: boolean): string => {
    const fill = " ".repeat(Math.max(0, w - [...v].length));
    return left ? v + fill : fill + v;
  };
  return t.map((r) => r.map((v, c) => pad(v, widths[c], c < 2)).join("  ").trimEnd()).join("\n");
}
