// Passive outlier detection's bookkeeping for one backend: failures seen by the proxy within a sliding
// window. Every failure a request can see (a reset, a response timeout, a 502/503/504 answer) can also
// be provoked by a client alone — a path the application answers 503 on, a request it resets, an
// endpoint that takes longer than response_timeout — so reaching max_fails is evidence, not a verdict:
// the checker then runs the backend's active check at once and ejects only when that check fails too
// (HAProxy's `observe layer7` + `on-error fastinter` is the same idea). A client can at most make a
// check run early, once per fail_window per backend.

export class FailureWindow {
  /** Times (ms) of recent failures, oldest first; never more than `max` kept. */
  private times: number[] = [];
  /** No confirmation before this time (one per fail window after a check that passed). */
  quietUntil = 0;

  /** Records `n` failures at `now`; true when `max` of them fall within `windowMs` and a check may run. */
  record(now: number, n: number, max: number, windowMs: number): boolean {
    const t = this.times;
    for (let i = 0; i < n; i++) t.push(now);
    let drop = 0;
    while (drop < t.length && (t[drop]! <= now - windowMs || t.length - drop > max)) drop++;
    if (drop > 0) t.splice(0, drop);
    return t.length >= max && now >= this.quietUntil;
  }

  /** The count within the window as of the last record. */
  get count(): number {
    return this.times.length;
  }

  clear(): void {
    this.times = [];
  }
}
