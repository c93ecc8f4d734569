// A proxy worker process: the data plane only. It serves the shared port (reusePort), routes from
// the snapshots the primary sends, reports passive health failures and its counters back.
// It exits when the primary goes away (IPC disconnect), so a crashed primary leaves no orphans.

import { configureLogging, createLogger } from "../log.ts";
import { ProxyServer } from "../proxy/server.ts";
import { ProxyStats } from "../proxy/stats.ts";
import { RateLimiter } from "../ratelimit/limiter.ts";
import { Router } from "../routing/router.ts";
import { wheel } from "../timer/wheel.ts";
import type { FromWorker, ToWorker, WorkerInit } from "./protocol.ts";
import { eachTriplet, USAGE_EVERY_MS, type UsageTriplets } from "./usage.ts";

const STATS_EVERY_MS = 1000;

function send(msg: FromWorker): void {
  process.send?.(msg);
}

let server: ProxyServer | undefined;
let router: Router | undefined;
const stats = new ProxyStats();
let statsTimer: ReturnType<typeof setInterval> | undefined;
let limiter: RateLimiter | undefined;
let usageTimer: ReturnType<typeof setInterval> | undefined;

let limitedSent: number[] = [];

/** What this worker admitted and refused since the last report, to the primary (usage.ts). */
function reportUsage(): void {
  if (!limiter) return;
  const u: UsageTriplets = [];
  limiter.takeFresh((e, n) => u.push(e.limit.index, e.hash, n));
  const limited = limiter.limits.map((l, i) => l.limited - (limitedSent[i] ?? 0));
  if (u.length === 0 && limited.every((n) => n === 0)) return;
  limitedSent = limiter.limits.map((l) => l.limited);
  send({ t: "usage", u, limited });
}

/** Failure evidence gathered for FAILURES_EVERY_MS, so a storm of 503s is a few messages, not one each. */
const FAILURES_EVERY_MS = 50;
let failures: Map<string, [pool: string, address: string, n: number]> | null = null;

function countFailure(pool: string, address: string): void {
  if (failures === null) {
    failures = new Map();
    setTimeout(() => {
      const counts = [...(failures?.values() ?? [])];
      failures = null;
      send({ t: "failures", counts });
    }, FAILURES_EVERY_MS);
  }
  const key = `${pool} ${address}`;
  const c = failures.get(key);
  if (c) c[2]++;
  else failures.set(key, [pool, address, 1]);
}

async function init(i: WorkerInit): Promise<void> {
  configureLogging(i.log);
  const log = createLogger(`worker-${i.id}`);
  router = new Router(i.snapshot);
  if (i.rateLimits.length > 0) {
    limiter = new RateLimiter(i.rateLimits, { maxKeys: i.cfg.rateLimitsMaxKeys, report: "all", chargeLagMs: i.chargeLagMs });
    usageTimer = setInterval(reportUsage, USAGE_EVERY_MS);
  }
  server = new ProxyServer({
    cfg: i.cfg,
    nodeName: i.nodeName,
    router,
    stats,
    wheel,
    log,
    onConnectFailure: (pool, address, code) => send({ t: "passive", pool, address, code }),
    onFailureEvidence: countFailure,
    retryAfterS: i.retryAfterS,
    peerTls: i.peerTls,
    peerConnectTimeoutMs: i.peerConnectTimeoutMs,
    accessLog: i.accessLog,
    reusePort: true,
    limiter,
  });
  stats.readInFlight = () => server?.inFlight ?? 0;
  await server.start();
  statsTimer = setInterval(() => send({ t: "stats", dump: stats.dump(), websockets: server?.websocketsActive ?? 0 }), STATS_EVERY_MS);
  send({ t: "ready", port: server.port, redirectPort: server.redirectPort });
}

async function stop(drainMs: number): Promise<void> {
  clearInterval(statsTimer);
  clearInterval(usageTimer);
  await server?.stop(drainMs);
  send({ t: "stopped", dump: stats.dump() });
  process.exit(0);
}

process.on("message", (msg: ToWorker) => {
  switch (msg.t) {
    case "init":
      init(msg.init).catch((e: unknown) => {
        console.error(`worker failed to start: ${(e as Error).message}`);
        process.exit(1);
      });
      break;
    case "snapshot":
      router?.install(msg.snapshot);
      server?.publish(msg.snapshot);
      break;
    case "config":
      server?.setConfig(msg.cfg);
      break;
    case "usage": {
      const l = limiter;
      if (l) eachTriplet(l, msg.u, performance.now(), (e, n) => l.charge(e, n, performance.now()));
      break;
    }
    case "reopen":
      server?.reopenLogs();
      break;
    case "stop":
      void stop(msg.drainMs);
      break;
  }
});

// The primary is gone: nobody routes for us any more.
process.on("disconnect", () => void stop(0));
// The primary handles signals for the whole node (leave first, then drain us).
process.on("SIGINT", () => {});
process.on("SIGTERM", () => {});
