// Wire compatibility against real Go memberlist 0.2.2 nodes, using only the codec and plain
// Bun sockets (no gossip engine): UDP ping/ack, TCP ping, TCP push/pull, joining as a fake node,
// receiving Go's gossip. Set CAPTURE_GOLDEN=<file> to dump the raw packets Go sent (fixtures).

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { udp } from "bun";
import { requirePrerequisite } from "../helpers/prereq.ts";
import { buildGoPeer, GO_INSTALL, GoNode } from "./gonode.ts";
import { decodePacket, encodeCompound, encodeCompress, encodeMessage, encodePacket } from "../../src/cluster/codec.ts";
import { StreamDecoder, encodeStreamMessage } from "../../src/cluster/stream.ts";
import { Keyring } from "../../src/cluster/security.ts";
import { decompress, compress } from "../../src/cluster/lzw.ts";
import { MsgpackReader } from "../../src/cluster/msgpack.ts";
import { OUR_VSN, WireError, type Message } from "../../src/cluster/messages.ts";

// Waits here are bounded by gossip timings (detection up to ~16 s), above Bun's 5 s default (bunfig's is ignored).
setDefaultTimeout(30_000);
const go = await buildGoPeer();
const noGo = requirePrerequisite("Go memberlist interop (wire level)", go.ok ? undefined : go.missing, GO_INSTALL);
const KEY = new Uint8Array(32).map((_, i) => i * 7 + 1);
const LOOPBACK = new Uint8Array([127, 0, 0, 1]);
const FAST = { probeInterval: "300ms", probeTimeout: "150ms", gossipInterval: "100ms" };

interface Received {
  raw: Uint8Array;
  messages: Message[];
  error?: WireError;
}

/** A bare UDP endpoint that decodes everything it receives and acks pings addressed to `name`. */
class FakeNode {
  readonly packets: Received[] = [];
  private waiters: { pred: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];

  private constructor(
    readonly name: string,
    readonly keyring: Keyring | undefined,
    private sock: udp.Socket<"uint8array">,
  ) {}

  static async start(name: string, keyring?: Keyring): Promise<FakeNode> {
    let self: FakeNode | undefined;
    const sock = await Bun.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      binaryType: "uint8array",
      socket: {
        data(_s, buf, port, addr) {
          self?.onPacket(new Uint8Array(buf), port, addr);
        },
        // ICMP port-unreachable (a peer that just exited) surfaces here as ECONNREFUSED; UDP shrugs.
        error() {},
      },
    });
    self = new FakeNode(name, keyring, sock);
    return self;
  }

  get port(): number {
    return this.sock.port;
  }

  private onPacket(raw: Uint8Array, port: number, addr: string): void {
    let messages: Message[] = [];
    let error: WireError | undefined;
    try {
      messages = decodePacket(raw, { keyring: this.keyring });
    } catch (err) {
      error = err as WireError;
    }
    this.packets.push({ raw: raw.slice(), messages, error });
    for (const m of messages) {
      if (m.type === "ping" && m.body.node === this.name) {
        const ack = encodeMessage({ type: "ackResp", body: { seqNo: m.body.seqNo, payload: null } });
        this.send(encodePacket(ack, { keyring: this.keyring }), m.body.sourcePort || port, addr);
      }
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(m)) return true;
        w.resolve(m);
        return false;
      });
    }
  }

  send(packet: Uint8Array, port: number, addr = "127.0.0.1"): void {
    this.sock.send(packet, port, addr);
  }

  /** First message (already received or future) matching `pred`. */
  waitMessage(pred: (m: Message) => boolean, timeoutMs = 8000): Promise<Message> {
    for (const p of this.packets) for (const m of p.messages) if (pred(m)) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no matching message in ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  close(): void {
    this.sock.close();
  }
}

/** Raw TCP replies, for CAPTURE_GOLDEN. */
const tcpReplies: { to: string; hex: string }[] = [];

/** One TCP request/reply exchange; returns the decoded reply and the raw reply bytes. */
async function tcpExchange(port: number, request: Uint8Array, keyring?: Keyring): Promise<{ msg: Message; raw: Uint8Array }> {
  const dec = new StreamDecoder({ keyring });
  const chunks: Uint8Array[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("TCP exchange timed out")), 8000);
    let settled = false;
    const done = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.write(request);
        },
        data(s, chunk) {
          chunks.push(new Uint8Array(chunk));
          try {
            const msg = dec.push(new Uint8Array(chunk));
            if (msg) {
              const raw = new Uint8Array(Buffer.concat(chunks));
              tcpReplies.push({ to: `tcp:${msg.type}`, hex: Buffer.from(raw).toString("hex") });
              done(() => resolve({ msg, raw }));
              s.end();
            }
          } catch (err) {
            done(() => reject(err));
            s.end();
          }
        },
        close() {
          done(() => reject(new Error(`connection closed before a reply (${Buffer.concat(chunks).length} bytes)`)));
        },
        error(_s, err) {
          done(() => reject(err));
        },
      },
    }).catch(reject);
  });
}

function pingOf(node: string, seqNo: number): Uint8Array {
  return encodeMessage({ type: "ping", body: { seqNo, node } });
}

const isAck = (seqNo: number) => (m: Message) => m.type === "ackResp" && m.body.seqNo === seqNo;

describe.skipIf(noGo)("Go memberlist 0.2.2 interop (wire level)", () => {
  const binary = go.ok ? go.binary : "";
  const nodes: GoNode[] = [];
  const fakes: FakeNode[] = [];
  let plain: GoNode;
  let keyedA: GoNode;
  let keyedB: GoNode;
  const ring = new Keyring(KEY);

  beforeAll(async () => {
    [plain, keyedA] = await Promise.all([
      GoNode.start(binary, { name: "go-plain", meta: "plain-meta", ...FAST }),
      GoNode.start(binary, { name: "go-a", key: KEY, meta: "meta-a", ...FAST }),
    ]);
    keyedB = await GoNode.start(binary, { name: "go-b", key: KEY, meta: "meta-b", join: [`127.0.0.1:${keyedA.port}`], ...FAST });
    nodes.push(plain, keyedA, keyedB);
    await keyedA.waitFor((e) => e.event === "join" && e.name === "go-b");
  });

  afterAll(async () => {
    const capture = process.env.CAPTURE_GOLDEN;
    if (capture) {
      const dump = fakes.flatMap((f) => f.packets.map((p) => ({ to: f.name, hex: Buffer.from(p.raw).toString("hex") })));
      dump.push(...tcpReplies);
      await Bun.write(capture, JSON.stringify(dump, null, 1));
    }
    for (const f of fakes) f.close();
    for (const n of nodes) n.kill();
  });

  test("UDP ping → ack, plaintext", async () => {
    const fake = await FakeNode.start("ts-udp");
    fakes.push(fake);
    fake.send(encodePacket(pingOf("go-plain", 1234)), plain.port);
    const ack = await fake.waitMessage(isAck(1234));
    expect(ack).toEqual({ type: "ackResp", body: { seqNo: 1234, payload: null } });
    expect(fake.packets.every((p) => !p.error)).toBe(true);
  });

  test("Go accepts our compress + CRC + compound wrapping", async () => {
    const fake = await FakeNode.start("ts-wrapped");
    fakes.push(fake);
    // compound(ping, ping) → LZW compress (forced) → CRC header
    const payload = encodeCompress(encodeCompound([pingOf("go-plain", 77), pingOf("go-plain", 78)]));
    fake.send(encodePacket(payload, { crc: true }), plain.port);
    await fake.waitMessage(isAck(77));
    await fake.waitMessage(isAck(78));
  });

  test("UDP ping → ack, encrypted (and our ping carries SourceAddr/Port/Node)", async () => {
    const fake = await FakeNode.start("ts-enc", ring);
    fakes.push(fake);
    const ping = encodeMessage({
      type: "ping",
      body: { seqNo: 99, node: "go-a", sourceAddr: LOOPBACK, sourcePort: fake.port, sourceNode: "ts-enc" },
    });
    fake.send(encodePacket(ping, { keyring: ring, crc: true }), keyedA.port);
    const ack = await fake.waitMessage(isAck(99));
    expect(ack.type).toBe("ackResp");
    // Everything the keyed node sent us was an encrypted blob (vsn 1) that only our key opens.
    const wrong = Keyring.fromSecrets("not the key");
    for (const p of fake.packets) {
      expect(p.raw[0]).toBe(1);
      expect(() => wrong.decrypt(p.raw)).toThrow(WireError);
      expect(ring.decrypt(p.raw).length).toBe(p.raw.length - 29);
    }
  });

  test("TCP ping → ack; Go's reply is compressed even for an uncompressed request", async () => {
    const { msg, raw } = await tcpExchange(plain.port, encodeStreamMessage({ type: "ping", body: { seqNo: 5, node: "go-plain" } }, { compress: false }));
    expect(msg).toEqual({ type: "ackResp", body: { seqNo: 5, payload: null } });
    expect(raw[0]).toBe(9);
    // Go's LZW output is byte-identical to ours for the same input
    const r = new MsgpackReader(raw, 1);
    expect(r.readMapHeader()).toBe(2);
    expect(r.readStr()).toBe("Algo");
    expect(r.readInt()).toBe(0);
    expect(r.readStr()).toBe("Buf");
    const buf = r.readBytes();
    expect(compress(decompress(buf))).toEqual(buf);
  });

  test("TCP ping to an encrypted node: encrypted reply; plaintext request gets an err", async () => {
    const { msg, raw } = await tcpExchange(keyedA.port, encodeStreamMessage({ type: "ping", body: { seqNo: 6, node: "go-a" } }, { keyring: ring }), ring);
    expect(msg).toEqual({ type: "ackResp", body: { seqNo: 6, payload: null } });
    expect(raw[0]).toBe(10);
    const refused = await tcpExchange(keyedA.port, encodeStreamMessage({ type: "ping", body: { seqNo: 7, node: "go-a" } }), ring);
    expect(refused.msg.type).toBe("err");
    if (refused.msg.type === "err") expect(refused.msg.body.error).toContain("not encrypted");
  });

  test("TCP push/pull: decode Go's full state (compressed + encrypted)", async () => {
    const request = encodeStreamMessage({ type: "pushPull", body: { join: false, states: [], userState: new Uint8Array(0) } }, { keyring: ring });
    const { msg } = await tcpExchange(keyedA.port, request, ring);
    expect(msg.type).toBe("pushPull");
    if (msg.type !== "pushPull") return;
    const byName = new Map(msg.body.states.map((s) => [s.name, s]));
    expect(byName.get("go-a")).toMatchObject({ port: keyedA.port, state: 0, meta: new TextEncoder().encode("meta-a"), vsn: [1, 5, 2, 0, 0, 0] });
    expect(byName.get("go-b")).toMatchObject({ port: keyedB.port, state: 0, meta: new TextEncoder().encode("meta-b") });
    expect([4, 16]).toContain(byName.get("go-a")?.addr.length ?? 0);
    expect(msg.body.join).toBe(false);
  });

  test("join as a fake node: Go adds us, probes us, gossips meta updates to us", async () => {
    const fake = await FakeNode.start("ts-fake", ring);
    fakes.push(fake);
    const self = { name: "ts-fake", addr: LOOPBACK, port: fake.port, meta: new TextEncoder().encode("fake-meta"), incarnation: 1, state: 0, vsn: [...OUR_VSN] as typeof OUR_VSN };
    const request = encodeStreamMessage({ type: "pushPull", body: { join: true, states: [self], userState: new Uint8Array(0) } }, { keyring: ring });
    const { msg } = await tcpExchange(keyedA.port, request, ring);
    expect(msg.type).toBe("pushPull");

    const joined = await keyedA.waitFor((e) => e.event === "join" && e.name === "ts-fake");
    expect(joined).toMatchObject({ meta: "fake-meta", port: fake.port, vsn: [1, 5, 2, 0, 0, 0] });
    // Go spreads our alive to go-b by gossip
    await keyedB.waitFor((e) => e.event === "join" && e.name === "ts-fake");

    // Go probes us (encrypted, with CRC since we advertise PMax 5); FakeNode acks.
    const ping = await fake.waitMessage((m) => m.type === "ping" && m.body.node === "ts-fake");
    expect(ping.type).toBe("ping");

    await keyedB.setMeta("meta-b2");
    const alive = await fake.waitMessage((m) => m.type === "alive" && m.body.node === "go-b" && new TextDecoder().decode(m.body.meta) === "meta-b2");
    if (alive.type === "alive") {
      expect(alive.body.port).toBe(keyedB.port);
      expect(alive.body.vsn).toEqual([1, 5, 2, 0, 0, 0]);
      expect(alive.body.incarnation).toBeGreaterThan(1);
    }
    // We acked every probe, so Go still sees us alive.
    const members = await keyedA.members();
    expect(members.find((m) => m.name === "ts-fake")?.state).toBe("alive");
    expect(fake.packets.filter((p) => p.error)).toEqual([]);
  });

  test("graceful leave reaches us as dead{From == Node}", async () => {
    const fake = fakes.find((f) => f.name === "ts-fake");
    if (!fake) throw new Error("join test did not run");
    await keyedB.leave();
    const dead = await fake.waitMessage((m) => m.type === "dead" && m.body.node === "go-b");
    if (dead.type === "dead") expect(dead.body.from).toBe("go-b");
  });
});
