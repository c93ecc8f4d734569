// One simulated run: bootstrap N−1 nodes until everyone knows everyone, then (scenario time 0) a new
// member joins, `kill` members crash, an optional partition comes and goes, slow nodes stall, and the
// run goes on to `durationMs` of scenario time. Every member event of every node goes into the event log
// (hashed); the figures are read off the same events.

import type { Member, MemberlistTimings } from "../src/cluster/index.ts";
import { type MemberEventKind, type SimNode, type StallMode, type StoreKind, TICK_MS, World } from "./world.ts";

export interface Partition {
  /** Share of the nodes cut off from the rest. */
  fraction: number;
  fromMs: number;
  toMs: number;
}

export interface ScenarioConfig {
  nodes: number;
  seed: number;
  loss: number;
  latencyMs: [number, number];
  kill: number;
  partition: Partition | null;
  /** Share of nodes that stall now and then. */
  slow: number;
  /** How slow nodes stall (default "loop"), for how long (ms range, default 500..2500) and how often (gap between stalls, default 2000..8000). */
  slowMode?: StallMode;
  stallMs?: [number, number];
  stallGapMs?: [number, number];
  /** Scenario time after the bootstrap. */
  durationMs: number;
  lifeguard: boolean;
  timings: Partial<MemberlistTimings>;
  /** How each engine keeps its member table (default compact; the event log is the same either way). */
  store?: StoreKind;
  /**
   * "join" (default): the first N−1 nodes join one by one through a random earlier node until all know
   * all. "settled": they start with full tables (World.settle), for sizes where joining one by one
   * would take too long; the new member still joins for real.
   */
  bootstrap?: "join" | "settled";
}

export interface Figures {
  nodes: number;
  seed: number;
  lifeguard: boolean;
  loss: number;
  slow: number;
  bootstrap: "join" | "settled";
  /** Virtual ms until the first N−1 nodes all knew each other. */
  bootstrap_ms: number | null;
  /** From the new member's join until 99.9% / all other nodes knew it. */
  join_999_ms: number | null;
  join_all_ms: number | null;
  /** From the crash: first suspicion of a victim, first and last live node marking every victim dead. */
  detect_first_suspect_ms: number | null;
  detect_first_dead_ms: number | null;
  detect_all_dead_ms: number | null;
  /** Live members marked dead by a live node that could reach them (observer, subject) pairs. */
  false_positives: number;
  false_positives_per_node_hour: number;
  /** N × scenario time, the per-node-hour figures' denominator. */
  node_hours: number;
  /** Distinct live members marked dead by anyone. */
  false_positive_members: number;
  /** Of false_positives: pairs about a member that is not slow (Lifeguard's "false positives at healthy members"). */
  false_positives_healthy: number;
  false_positives_healthy_per_node_hour: number;
  /** Of false_positives_healthy: those a slow node declared (the rest were declared by healthy nodes). */
  false_positives_healthy_by_slow: number;
  /** Of false_positives: pairs about a slow member (it was unresponsive while stalled). */
  false_positives_slow: number;
  /** Failed probes (each raises a suspicion) per node-hour of scenario time; with no crash, each is a wrong suspicion. */
  failed_probes_per_node_hour: number;
  /** Failed probes in the scenario time by slow nodes and by the others (of slow ones, mostly). */
  failed_probes_by_slow: number;
  failed_probes_by_healthy: number;
  refutations: number;
  /** From the partition's end until every live node knew every live node again. */
  partition_heal_ms: number | null;
  /** Rates and wall time per simulated second: over the second half of the scenario time. */
  msgs_per_node_s: number;
  bytes_per_node_s: number;
  /** Stream (push/pull, TCP ping) bytes per node per second. */
  stream_bytes_per_node_s: number;
  packet_loss_observed: number;
  memory_per_node_bytes: number;
  rss_peak_mib: number;
  sim_s: number;
  wall_s: number;
  wall_per_sim_s: number;
  events: number;
  event_log_hash: string;
}

/** Streams the event log into a hash (and optionally a sink) without keeping it. */
class EventLog {
  private readonly hasher = new Bun.CryptoHasher("sha256");
  private chunk = "";
  count = 0;

  constructor(private readonly sink?: (s: string) => void) {}

  add(line: string): void {
    this.count++;
    this.chunk += line + "\n";
    if (this.chunk.length > 65_536) this.flush();
  }

  flush(): void {
    if (!this.chunk) return;
    this.hasher.update(this.chunk);
    this.sink?.(this.chunk);
    this.chunk = "";
  }

  digest(): string {
    this.flush();
    return this.hasher.digest("hex");
  }
}

/** `progress` gets a line every 5 s of simulated time (for long runs). */
export async function runScenario(cfg: ScenarioConfig, logSink?: (s: string) => void, progress?: (line: string) => void): Promise<Figures> {
  const wallStart = performance.now();
  const N = cfg.nodes;
  if (!Number.isInteger(N) || N < 3) throw new RangeError("nodes must be an integer ≥ 3");
  const log = new EventLog(logSink);
  /** knows[s]: live nodes that have s alive or suspect (a node counts itself). */
  const knows = new Int32Array(N);
  const deadTo = new Int32Array(N);
  const isVictim = new Uint8Array(N);
  const isSlow = new Uint8Array(N);
  let fpSlow = 0;
  let fpHealthyBySlow = 0;
  let pairsKnown = 0;
  let scenarioStart = Infinity;
  let killAt = Infinity;
  let firstSuspect = Infinity;
  let firstDead = Infinity;
  let minority: Uint8Array | null = null;
  let fp = 0;
  const fpMembers = new Set<number>();
  let rssPeak = 0;

  const world: World = new World(cfg.seed, { loss: cfg.loss, latencyMs: cfg.latencyMs }, {
    memberEvent(observer: number, kind: MemberEventKind, subject: number, m: Member) {
      log.add(`${world.now} ${observer} ${kind} ${subject} ${m.state} ${m.incarnation}`);
      if (kind === "join") {
        knows[subject]++;
        pairsKnown++;
      } else if (kind === "leave") {
        knows[subject]--;
        pairsKnown--;
        if (m.state === "dead") {
          deadTo[subject]++;
          if (isVictim[subject]) {
            if (firstDead === Infinity) firstDead = world.now;
          } else if (world.now >= scenarioStart && subject !== observer && !(minority && minority[subject] !== minority[observer])) {
            fp++;
            if (isSlow[subject]) fpSlow++;
            else if (isSlow[observer]) fpHealthyBySlow++;
            fpMembers.add(subject);
          }
        }
      } else if (m.state === "suspect" && isVictim[subject] && firstSuspect === Infinity) {
        firstSuspect = world.now;
      }
    },
  }, cfg.store ?? "compact");
  const init = { ...cfg.timings, lifeguard: cfg.lifeguard };
  const live = () => world.nodes.filter((n) => !n.dead);
  const pick = (n: number) => Math.floor(world.random() * n);
  const sample = () => {
    const rss = process.memoryUsage.rss();
    if (rss > rssPeak) rssPeak = rss;
    progress?.(`sim ${(world.now / 1000).toFixed(0)} s, wall ${((performance.now() - wallStart) / 1000).toFixed(0)} s, rss ${Math.round(rss / 1048576)} MiB`);
  };

  const heapBefore = heapUsed();
  const settled = cfg.bootstrap === "settled";
  let nextSample = 0;
  const sampleEvery5s = () => {
    if (world.now >= nextSample) {
      sample();
      nextSample = world.now + 5000;
    }
  };
  const target = (N - 1) * (N - 1);
  if (settled) {
    await world.settle(N - 1, init);
    knows.fill(N - 1, 0, N - 1);
    pairsKnown = target;
    // let every node's announcement of itself (ignored: nobody learns anything) drain
    await world.run(5000, () => (sampleEvery5s(), false));
  } else {
    // ---- bootstrap: N−1 nodes, each joining a random earlier one, up to ~1000 joins per second
    const perTick = Math.max(1, Math.ceil(N / 1000));
    for (let i = 0; i < N - 1; i++) {
      const t = Math.floor(i / perTick) * TICK_MS;
      world.at(t, () => void world.addNode(i === 0 ? [] : [pick(i)], init));
    }
    const bootstrapLimit = Math.floor((N - 1) / perTick) * TICK_MS + 120_000;
    await world.run(bootstrapLimit, () => {
      sampleEvery5s();
      return world.nodes.length === N - 1 && pairsKnown === target;
    });
  }
  const bootstrapMs = settled ? null : pairsKnown === target ? world.now : null;
  const memoryPerNode = Math.max(0, heapUsed() - heapBefore) / (N - 1);
  sample();

  // ---- scenario time 0
  const t0 = Math.ceil(world.now / TICK_MS) * TICK_MS + TICK_MS;
  scenarioStart = t0;
  const end = t0 + cfg.durationMs;
  // rates and speed over the second half, when the bootstrap's broadcasts have drained
  const rateFrom = t0 + Math.floor(cfg.durationMs / 2 / TICK_MS) * TICK_MS;
  let pktStart = 0;
  let bytesStart = 0;
  let streamStart = 0;
  let lostStart = 0;
  let wallSteady = 0;
  world.at(rateFrom, () => {
    pktStart = world.packetsSent;
    bytesStart = world.bytesSent;
    streamStart = world.streamBytes;
    lostStart = world.packetsLost;
    wallSteady = performance.now();
  });

  // a new member joins through a random one
  let joinAt = Infinity;
  let join999 = Infinity;
  let joinAll = Infinity;
  world.at(t0, () => {
    joinAt = world.now;
    void world.addNode([pick(N - 1)], init);
  });

  // crashes, one second after everyone knew the newcomer (or 30 s in)
  const victims: SimNode[] = [];
  let detectAll = Infinity;
  const crash = () => {
    if (killAt !== Infinity || cfg.kill <= 0) return;
    killAt = world.now;
    const candidates = world.nodes.filter((n) => n.index !== 0 && n.index !== N - 1 && !n.dead);
    for (let k = 0; k < cfg.kill && candidates.length > 0; k++) {
      const [v] = candidates.splice(pick(candidates.length), 1);
      isVictim[v.index] = 1;
      victims.push(v);
      void world.kill(v);
    }
  };
  world.at(t0 + 30_000, crash);

  // slow nodes: stall (default 0.5–2.5 s) every (default 2–8 s) after the previous stall ended
  const slowCount = Math.round(cfg.slow * N);
  const slowNodes = new Set<number>();
  while (slowNodes.size < Math.min(slowCount, N - 2)) slowNodes.add(1 + pick(N - 2));
  const [stallMin, stallMax] = cfg.stallMs ?? [500, 2500];
  const [gapMin, gapMax] = cfg.stallGapMs ?? [2000, 8000];
  const within = (lo: number, hi: number) => lo + Math.floor(world.random() * (hi - lo));
  const stallLoop = (n: SimNode, after: number) => {
    world.at(world.now + after + within(gapMin, gapMax), () => {
      if (n.dead || world.now >= end) return;
      const ms = within(stallMin, stallMax);
      world.stall(n, ms, cfg.slowMode ?? "loop");
      stallLoop(n, ms);
    });
  };
  for (const i of [...slowNodes].sort((a, b) => a - b)) {
    isSlow[i] = 1;
    stallLoop(world.nodes[i], 0);
  }
  /** [by slow nodes, by the others] */
  const failedProbes = (): [number, number] => {
    const c: [number, number] = [0, 0];
    for (const n of world.nodes) c[isSlow[n.index] ? 0 : 1] += n.ml?.metrics().probeFailures ?? 0;
    return c;
  };
  let failedAtStart: [number, number] = [0, 0];
  world.at(t0, () => {
    failedAtStart = failedProbes();
  });

  // partition
  let partitionEnd = Infinity;
  let healAt = Infinity;
  if (cfg.partition) {
    const { fraction, fromMs, toMs } = cfg.partition;
    const side = new Uint8Array(N);
    const order = Array.from({ length: N }, (_, i) => i);
    for (let i = N - 1; i > 0; i--) {
      const j = pick(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let i = 0; i < Math.round(fraction * N); i++) side[order[i]] = 1;
    world.at(t0 + fromMs, () => {
      minority = side;
      world.setPartition(side);
    });
    world.at(t0 + toMs, () => {
      world.setPartition(null);
      partitionEnd = world.now;
    });
  }

  const liveTarget = () => {
    const l = live().length;
    return l * l;
  };
  await world.run(end, () => {
    sampleEvery5s();
    if (joinAt !== Infinity && join999 === Infinity && knows[N - 1] - 1 >= Math.ceil(0.999 * (N - 1))) join999 = world.now;
    if (joinAt !== Infinity && joinAll === Infinity && knows[N - 1] - 1 >= N - 1) {
      joinAll = world.now;
      world.at(world.now + 1000, crash);
    }
    if (victims.length > 0 && detectAll === Infinity && victims.every((v) => deadTo[v.index] >= N - victims.length)) detectAll = world.now;
    if (partitionEnd !== Infinity && healAt === Infinity && pairsKnownLive() === liveTarget()) healAt = world.now;
    return false;
  });
  function pairsKnownLive(): number {
    let s = 0;
    for (const n of world.nodes) if (!n.dead) s += knows[n.index];
    return s;
  }
  sample();
  const failedAtEnd = failedProbes();
  const failedBySlow = failedAtEnd[0] - failedAtStart[0];
  const failedByHealthy = failedAtEnd[1] - failedAtStart[1];
  for (const n of world.nodes) if (!n.dead) await n.ml?.shutdown();

  const wallEnd = performance.now();
  const simSteadyS = (end - rateFrom) / 1000;
  const since = (t: number, from: number) => (t === Infinity || from === Infinity ? null : t - from);
  const nodeHours = (N * cfg.durationMs) / 3_600_000;
  const refutations = world.nodes.reduce((s, n) => s + (n.ml?.metrics().refutations ?? 0), 0);
  return {
    nodes: N,
    seed: cfg.seed,
    lifeguard: cfg.lifeguard,
    bootstrap: settled ? "settled" : "join",
    loss: cfg.loss,
    slow: cfg.slow,
    bootstrap_ms: bootstrapMs,
    join_999_ms: since(join999, joinAt),
    join_all_ms: since(joinAll, joinAt),
    detect_first_suspect_ms: since(firstSuspect, killAt),
    detect_first_dead_ms: since(firstDead, killAt),
    detect_all_dead_ms: since(detectAll, killAt),
    false_positives: fp,
    false_positives_per_node_hour: fp / nodeHours,
    node_hours: nodeHours,
    false_positive_members: fpMembers.size,
    false_positives_healthy: fp - fpSlow,
    false_positives_healthy_per_node_hour: (fp - fpSlow) / nodeHours,
    false_positives_healthy_by_slow: fpHealthyBySlow,
    false_positives_slow: fpSlow,
    failed_probes_per_node_hour: (failedBySlow + failedByHealthy) / nodeHours,
    failed_probes_by_slow: failedBySlow,
    failed_probes_by_healthy: failedByHealthy,
    refutations,
    partition_heal_ms: since(healAt, partitionEnd),
    msgs_per_node_s: (world.packetsSent - pktStart) / N / simSteadyS,
    bytes_per_node_s: (world.bytesSent - bytesStart) / N / simSteadyS,
    stream_bytes_per_node_s: (world.streamBytes - streamStart) / N / simSteadyS,
    packet_loss_observed: (world.packetsLost - lostStart) / Math.max(1, world.packetsSent - pktStart),
    memory_per_node_bytes: Math.round(memoryPerNode),
    rss_peak_mib: Math.round(rssPeak / 1048576),
    sim_s: world.now / 1000,
    wall_s: (wallEnd - wallStart) / 1000,
    wall_per_sim_s: (wallEnd - wallSteady) / 1000 / simSteadyS,
    events: log.count,
    event_log_hash: log.digest(),
  };
}

function heapUsed(): number {
  Bun.gc(true);
  return process.memoryUsage().heapUsed;
}
