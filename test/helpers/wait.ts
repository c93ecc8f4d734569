// The one way tests wait for a condition: poll it, give up after a deadline with a message that says what was awaited.

/** Polls `cond` every `stepMs` until it holds; resolves with the time it took, rejects after `timeoutMs` naming `what`. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000, stepMs = 10): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await cond()) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await Bun.sleep(stepMs);
  }
}

/** waitFor without a description, for conditions that speak for themselves in the test. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, stepMs = 10): Promise<void> {
  await waitFor("condition", cond, timeoutMs, stepMs);
}
