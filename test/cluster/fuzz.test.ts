// Fuzz: 100k random and mutated packets over real UDP at a live node (plaintext, so the codec is
// exercised, not just AES-GCM). The node must not crash or stall, its member table must stay
// right, and every dropped packet or compound part must be counted.
// Packets that would decode to a valid alive/suspect/dead are regenerated (safe()), so this cannot
// test the membership rules; adversarial.test.ts sends well-formed hostile state messages for that,
// with Go memberlist as the oracle. The expected drop count comes from our own decoder: this checks
// the node's counting against it, not the decoder against memberlist (golden.test.ts, interop/ do).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { bytesToIp } from "../../src/netutil.ts";
import { decodePacket, encodeCompound, encodeMessage, encodePacket } from "../../src/cluster/codec.ts";
import { Memberlist } from "../../src/cluster/memberlist.ts";
import { type Message, OUR_VSN } from "../../src/cluster/messages.ts";
import { validateMessage } from "../../src/cluster/net.ts";
import { Keyring } from "../../src/cluster/security.ts";
import { FAST, quietLogger, TestMeta, waitFor } from "./helpers.ts";

const TOTAL = 100_000;
const BATCH = 50;

// deterministic PRNG (mulberry32) so a failure can be replayed
let seed = 0x5eed1234;
function rnd(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n: number) => Math.floor(rnd() * n);
const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

const nodes: Memberlist[] = [];
const metas = new Map<string, TestMeta>();
let target: Memberlist;

beforeAll(async () => {
  const fast = { ...FAST, logger: quietLogger(), bindAddress: "127.0.0.1", bindPort: 0 };
  target = await Memberlist.create({ ...fast, name: "target", peers: [], delegate: new TestMeta(new Uint8Array([7])) });
  nodes.push(target);
  for (const name of ["p1", "p2"]) {
    const meta = new TestMeta(new Uint8Array([7]));
    metas.set(name, meta);
    nodes.push(await Memberlist.create({ ...fast, name, peers: [`127.0.0.1:${target.port}`], delegate: meta }));
  }
  await waitFor("cluster of 3", () => nodes.every((n) => n.aliveMembers().length === 3));
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.shutdown()));
});

function baseMessages(): Message[] {
  const name = pick(["target", "p1", "x", "", "a".repeat(40)]);
  const lo = Uint8Array.from([127, 0, 0, 1 + int(3)]);
  return [
    { type: "ping", body: { seqNo: int(2 ** 32), node: pick(["target", "", "other"]), sourceAddr: lo, sourcePort: 1 + int(60000), sourceNode: "fz" } },
    { type: "indirectPing", body: { seqNo: int(1000), target: lo, port: int(65536), node: name, nack: rnd() < 0.5 } },
    { type: "ackResp", body: { seqNo: int(2 ** 32), payload: rnd() < 0.5 ? null : bytes(int(20)) } },
    { type: "nackResp", body: { seqNo: int(1000) } },
    { type: "suspect", body: { incarnation: int(10), node: name, from: "fz" } },
    { type: "dead", body: { incarnation: int(10), node: name, from: name } },
    { type: "alive", body: { incarnation: int(10), node: name, addr: lo, port: 1 + int(65535), meta: bytes(int(40)), vsn: OUR_VSN } },
    { type: "user", body: bytes(int(30)) },
  ];
}

function validPacket(): Uint8Array {
  const msgs = baseMessages();
  const parts = Array.from({ length: 1 + int(4) }, () => encodeMessage(pick(msgs)));
  const payload = parts.length === 1 ? parts[0] : encodeCompound(parts);
  return encodePacket(payload, { compress: rnd() < 0.4, crc: rnd() < 0.3 });
}

function mutate(p: Uint8Array): Uint8Array {
  const b = Uint8Array.from(p);
  switch (int(9)) {
    case 0: // truncate
      return b.subarray(0, int(b.length));
    case 1: // flip some bytes
      for (let i = 0, n = 1 + int(4); i < n && b.length > 0; i++) b[int(b.length)] ^= 1 << int(8);
      return b;
    case 2: // extreme values at random places (lengths, counts, msgpack headers)
      for (let i = 0, n = 1 + int(3); i < n && b.length > 0; i++) b[int(b.length)] = pick([0, 0x7f, 0x80, 0xff, 0xdb, 0xc1, 0xdf]);
      return b;
    case 3: // huge compound count over a short buffer
      return Uint8Array.from([7, 255, ...b.subarray(0, int(64))]);
    case 4: // bad LZW inside a valid-looking compress wrapper
      return encodePacket(Uint8Array.from([9, 0x82, 0xa4, 0x41, 0x6c, 0x67, 0x6f, 0, 0xa3, 0x42, 0x75, 0x66, 0xc4, 8, ...bytes(8)]));
    case 5: // insert junk
    {
      const at = int(b.length + 1);
      const junk = bytes(1 + int(16));
      const out = new Uint8Array(b.length + junk.length);
      out.set(b.subarray(0, at));
      out.set(junk, at);
      out.set(b.subarray(at), at + junk.length);
      return out;
    }
    case 6: // wrong CRC
      return Uint8Array.from([12, ...bytes(4), ...b]);
    case 7: // nested wrappers
      return encodePacket(encodeCompound([b.length > 0 ? b : Uint8Array.of(0)]), { compress: true });
    default: // pure garbage
      return bytes(int(1500));
  }
}

/** Packets that would make the node act on the outside world (alive/indirect ping/valid rumours, replies off loopback) are not sent. */
function safe(msgs: Message[]): boolean {
  for (const m of msgs) {
    if ((m.type === "alive" || m.type === "suspect" || m.type === "dead" || m.type === "indirectPing") && validateMessage(m) === null) return false;
    if (m.type === "ping" && m.body.sourceAddr && m.body.sourceAddr.length > 0) {
      const ip = bytesToIp(m.body.sourceAddr);
      if (!ip || !ip.startsWith("127.")) return false;
    }
  }
  return true;
}

/** How many drops the node must count for this packet (whole packet, bad parts, invalid messages). */
function expectedDrops(p: Uint8Array): number | null {
  let drops = 0;
  let msgs: Message[];
  try {
    msgs = decodePacket(p, { onPartError: () => drops++ });
  } catch {
    return 1;
  }
  if (!safe(msgs)) return null;
  if (msgs.length === 0 && drops === 0) return 1;
  for (const m of msgs) {
    if (validateMessage(m) !== null) drops++;
    else if (m.type === "ping" && m.body.node !== "" && m.body.node !== "target") drops++;
  }
  return drops;
}

test(
  "100k random and mutated packets without a valid state message: no crash, no stall, table untouched, drops counted as our decoder predicts",
  async () => {
    const sock = await Bun.udpSocket({});
    const dropped = () => Object.values(target.metrics().dropped).reduce((a, b) => a + b, 0);
    let expected = dropped();
    let sent = 0;
    const started = performance.now();
    while (sent < TOTAL) {
      for (let i = 0; i < BATCH; i++) {
        let p: Uint8Array;
        let d: number | null;
        do {
          p = rnd() < 0.85 ? mutate(validPacket()) : validPacket();
          d = expectedDrops(p);
        } while (d === null || p.length === 0 || p.length > 65000);
        expected += d;
        sock.send(p, target.port, "127.0.0.1");
        sent++;
      }
      // flow control: the node must account for the whole batch before the next one (no loss, no stall)
      const deadline = performance.now() + 3000;
      while (dropped() < expected) {
        if (performance.now() > deadline) {
          throw new Error(`after ${sent} packets: expected ${expected} drops, counted ${dropped()} (packetsIn ${target.metrics().packetsIn})`);
        }
        await new Promise((r) => setImmediate(r));
      }
    }
    sock.close();
    const m = target.metrics();
    expect(dropped()).toBe(expected);
    expect(m.packetsIn).toBeGreaterThanOrEqual(TOTAL);
    expect(m.dropped.handler ?? 0).toBe(0);
    // still a healthy cluster member: table intact and still gossiping
    const names = target.members().map((x) => `${x.name}:${x.state}`).sort();
    expect(names).toEqual(["p1:alive", "p2:alive", "target:alive"]);
    metas.get("p1")!.meta = new Uint8Array([42]);
    nodes[1].updateNode();
    await waitFor("target hears meta update after the fuzz", () => target.members().find((x) => x.name === "p1")?.meta[0] === 42);
    console.log(`fuzz: ${TOTAL} packets in ${Math.round(performance.now() - started)} ms, drops by reason ${JSON.stringify(m.dropped)}`);
  },
  { timeout: 60_000 },
);

test("an encrypted node drops (and counts) every plaintext, wrongly keyed or tampered packet", async () => {
  const right = Keyring.fromSecrets("right key");
  const wrong = Keyring.fromSecrets("wrong key");
  const enc = await Memberlist.create({ ...FAST, logger: quietLogger(), bindAddress: "127.0.0.1", bindPort: 0, name: "sealed", peers: [], secrets: { primary: "right key" } });
  nodes.push(enc);
  const sock = await Bun.udpSocket({ socket: { error() {} } });
  const dropped = () => Object.values(enc.metrics().dropped).reduce((a, b) => a + b, 0);
  const N = 10_000;
  for (let sent = 0; sent < N; ) {
    for (let i = 0; i < BATCH; i++, sent++) {
      const plain = validPacket();
      let p: Uint8Array;
      switch (int(4)) {
        case 0:
          p = plain; // plaintext
          break;
        case 1:
          p = wrong.encrypt(plain);
          break;
        case 2: {
          p = right.encrypt(plain); // tampered after encryption
          p[1 + int(p.length - 1)] ^= 1 << int(8);
          break;
        }
        default:
          p = bytes(1 + int(1400));
      }
      sock.send(p, enc.port, "127.0.0.1");
    }
    const deadline = performance.now() + 3000;
    while (dropped() < sent) {
      if (performance.now() > deadline) throw new Error(`after ${sent} packets only ${dropped()} drops were counted`);
      await new Promise((r) => setImmediate(r));
    }
  }
  sock.close();
  const m = enc.metrics();
  expect(dropped()).toBe(N);
  expect(m.messagesIn).toEqual({});
  expect(m.dropped.plaintext ?? 0).toBeGreaterThan(0);
  expect(m.dropped.decrypt ?? 0).toBeGreaterThan(0);
  expect(enc.members().map((x) => x.name)).toEqual(["sealed"]);
});
