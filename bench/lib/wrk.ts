// One wrk run, parsed from the line bench/wrk-report.lua prints.

import { BenchError } from "./procs.ts";

export interface WrkResult {
  requests: number;
  durationS: number;
  rps: number;
  bytes: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
  non2xx: number;
  socketErrors: number;
  errors: { connect: number; read: number; write: number; timeout: number };
}

const SCRIPT = new URL("../wrk-report.lua", import.meta.url).pathname;

export async function runWrk(url: string, conns: number, durationS: number, label: string): Promise<WrkResult> {
  const cmd = ["wrk", "-t1", `-c${conns}`, `-d${durationS}s`, "--timeout", "10s", "-s", SCRIPT, url];
  const p = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const line = out.split("\n").find((l) => l.startsWith("WRKJSON "));
  if (code !== 0 || line === undefined) {
    throw new BenchError(label, `wrk failed (exit ${code}): ${(err || out).trim().slice(-500)}`);
  }
  const j = JSON.parse(line.slice(8)) as Record<string, number>;
  const durationS2 = j.duration_us / 1e6;
  const errors = { connect: j.connect, read: j.read, write: j.write, timeout: j.timeout };
  return {
    requests: j.requests,
    durationS: durationS2,
    rps: j.requests / durationS2,
    bytes: j.bytes,
    p50Us: j.p50_us,
    p90Us: j.p90_us,
    p99Us: j.p99_us,
    maxUs: j.max_us,
    non2xx: j.status,
    socketErrors: errors.connect + errors.read + errors.write + errors.timeout,
    errors,
  };
}
