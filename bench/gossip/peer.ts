#!/usr/bin/env bun
// A Bun gossip node speaking the same CLI as the Go reference peer (test/interop/go/peer):
// the same flags, JSON event lines on stdout, and stdin commands (members, meta, join, leave).
// Lets the benchmark drive Bun and Go clusters with the same harness (GoNode).

import { LAN_DEFAULTS, type Member, Memberlist } from "../../src/cluster/index.ts";
import { configureLogging } from "../../src/log.ts";

/** Go duration strings used by the peer flags: "300ms", "1s", "1.5s", "2m". */
function goDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(s.trim());
  if (!m) throw new Error(`bad duration ${JSON.stringify(s)}`);
  const n = Number(m[1]);
  return m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : n * 60_000;
}

const emit = (v: Record<string, unknown>) => process.stdout.write(JSON.stringify(v) + "\n");
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const node = (m: Member) => ({ name: m.name, addr: m.address, port: m.port, meta: text(m.meta), state: m.state, vsn: [1, 5, 2, 0, 0, 0] });

/** Go-style flags: "-name x", "--name x" or "-name=x". */
function parseFlags(argv: string[]): Record<string, string> {
  const out: Record<string, string> = { bind: "127.0.0.1", port: "0", key: "", join: "", meta: "" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("-")) throw new Error(`unexpected argument ${a}`);
    const body = a.replace(/^--?/, "");
    const eq = body.indexOf("=");
    if (eq >= 0) out[body.slice(0, eq)] = body.slice(eq + 1);
    else out[body] = argv[++i] ?? "";
  }
  return out;
}

const f = parseFlags(Bun.argv.slice(2));
if (!f.name) {
  emit({ event: "error", error: "-name is required" });
  process.exit(1);
}
configureLogging({ level: "warn" });
const seeds = f.join.split(",").map((s) => s.trim()).filter(Boolean);
let meta = new TextEncoder().encode(f.meta);
const ml = await Memberlist.create({
  name: f.name,
  bindAddress: f.bind,
  bindPort: Number(f.port),
  advertiseAddress: f.bind,
  peers: [],
  delegate: { nodeMeta: () => meta },
  secrets: f.key ? { primary: `base64:${f.key}` } : undefined,
  probeIntervalMs: f["probe-interval"] ? goDuration(f["probe-interval"]) : LAN_DEFAULTS.probeIntervalMs,
  probeTimeoutMs: f["probe-timeout"] ? goDuration(f["probe-timeout"]) : LAN_DEFAULTS.probeTimeoutMs,
  gossipIntervalMs: f["gossip-interval"] ? goDuration(f["gossip-interval"]) : LAN_DEFAULTS.gossipIntervalMs,
  suspicionMult: f["suspicion-mult"] ? Number(f["suspicion-mult"]) : LAN_DEFAULTS.suspicionMult,
  pushPullIntervalMs: f["pushpull-interval"] ? goDuration(f["pushpull-interval"]) : LAN_DEFAULTS.pushPullIntervalMs,
  // Go reports dead and left members alike as a leave, and no suspicions.
  events: {
    notifyJoin: (m) => emit({ event: "join", ...node(m) }),
    notifyUpdate: (m) => m.state === "alive" && emit({ event: "update", ...node(m) }),
    notifyLeave: (m) => emit({ event: "leave", ...node(m) }),
  },
});
emit({ event: "ready", name: ml.localName, addr: ml.address, port: ml.port });

async function join(list: string[]): Promise<void> {
  try {
    emit({ event: "joined", contacted: await ml.join(list), error: null });
  } catch (err) {
    emit({ event: "joined", contacted: 0, error: err instanceof Error ? err.message : String(err) });
  }
}
if (seeds.length > 0) await join(seeds);

for await (const raw of console) {
  const line = raw.trim();
  const sp = line.indexOf(" ");
  const [cmd, arg] = sp < 0 ? [line, ""] : [line.slice(0, sp), line.slice(sp + 1)];
  switch (cmd) {
    case "":
      break;
    case "members":
      emit({ event: "members", members: ml.members().filter((m) => m.state === "alive" || m.state === "suspect").map(node) });
      break;
    case "meta":
      meta = new TextEncoder().encode(arg);
      ml.updateNode();
      emit({ event: "meta", meta: arg, error: null });
      break;
    case "join":
      await join(arg.split(",").map((s) => s.trim()).filter(Boolean));
      break;
    case "leave":
      await ml.leave(5000);
      emit({ event: "left", error: null });
      await ml.shutdown();
      process.exit(0);
      break;
    default:
      emit({ event: "error", error: `unknown command: ${cmd}` });
  }
}
await ml.shutdown();
process.exit(0);
