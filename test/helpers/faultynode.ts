#!/usr/bin/env bun
// Test entry point for node processes with gossip faults: the shipped CLI (src/main.ts) with its gossip
// transport wrapped in FaultyTransport, so src/ carries no fault hook. CLUSTERCLUB_TEST_FAULTS=<json
// FaultSpec> sets the faults at start (a bad spec exits 2, as a bad config does); SIGUSR1 replaces
// them with the JSON in the spec's `file`; SIGUSR2 blocks the event loop for `blockMs` (default 3000).
import { readFileSync } from "node:fs";
import { runMain } from "citty";
import { type Logger, log } from "../../src/log.ts";
import { EXIT_CONFIG, nodeCommand } from "../../src/main.ts";
import { blockEventLoop, FAULTS_ENV, type FaultSpec, faults, faultyNetTransport, parseFaultSpec } from "./faults.ts";

/**
 * Applies the env's fault spec to the process-wide faults and installs the SIGUSR1/SIGUSR2 controls.
 * Returns the spec in force; throws FaultSpecError for a bad one (the node must not start half-faulted).
 */
export function installFaultControl(env: Record<string, string | undefined>, flog: Logger): () => FaultSpec {
  let spec = parseFaultSpec(env[FAULTS_ENV] || "{}", FAULTS_ENV);
  faults.set(spec);
  process.on("SIGUSR1", () => {
    if (!spec.file) return flog.warn("SIGUSR1: no fault file configured");
    try {
      const next = parseFaultSpec(readFileSync(spec.file, "utf8"), spec.file);
      // The control file stays the same unless the new spec names another one.
      spec = { ...next, file: next.file ?? spec.file, blockMs: next.blockMs ?? spec.blockMs };
      faults.set(spec);
      flog.warn("test faults replaced", { spec });
    } catch (e) {
      flog.error("test faults not replaced", { error: e });
    }
  });
  process.on("SIGUSR2", () => {
    const ms = spec.blockMs ?? 3000;
    flog.warn("test fault: blocking the event loop", { ms });
    blockEventLoop(ms);
  });
  return () => spec;
}

if (import.meta.main) {
  const flog = log.child("faults");
  let spec: () => FaultSpec;
  try {
    spec = installFaultControl(process.env, flog);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(EXIT_CONFIG);
  }
  void runMain(
    nodeCommand({
      gossipTransport: (bind) => {
        // Logged here, once logging is configured from the command line.
        flog.warn("TEST FAULTS: gossip packets may be dropped or delayed on purpose", { spec: spec() });
        return faultyNetTransport(bind);
      },
    }),
  );
}
