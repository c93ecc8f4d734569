// Suites that need something from the machine (root for network namespaces, Go and the memberlist
// sources, Chromium, openssl, a high open-file limit) call requirePrerequisite() at the top of their file.
// On a laptop a missing prerequisite skips the suite with a loud banner. In CI (CI=true) a skip would let a
// build go green without the evidence the suite exists for, so the missing prerequisite is registered as
// a failing test instead (and .ci/run also fails on any skip).
import { test } from "bun:test";

export const IN_CI = process.env.CI === "true";

/**
 * `why` is undefined when the prerequisite is met. Returns true when the suite must not run (pass it to
 * `describe.skipIf`/`test.skipIf`).
 */
export function requirePrerequisite(suite: string, why: string | undefined, install?: string): boolean {
  if (why === undefined) return false;
  const text = `${suite}: prerequisite missing: ${why}${install ? `\n(${install})` : ""}`;
  if (IN_CI) {
    test(`prerequisite for ${suite}`, () => {
      throw new Error(`${text}\nCI=true: a missing prerequisite is a failure, not a skip.`);
    });
  } else {
    const bar = "!".repeat(78);
    console.warn(`\n${bar}\n!! SKIPPED (not a pass): ${text.replaceAll("\n", "\n!! ")}\n${bar}\n`);
  }
  return true;
}
