// Structured adversarial gossip: well-formed messages with hostile content, sent as real UDP packets (and
// TCP push/pull) from a socket that is not a member — in the clear to a plaintext cluster, encrypted with
// the right key to an encrypted one — at a mixed cluster of two Bun nodes (t, m1) and one Go memberlist
// 0.2.2 node (g). Every hostile message goes to t and, the same, to g: Go memberlist is the oracle for
// what the rules of memberlist's state.go require (refute claims about ourselves with a higher
// incarnation, ignore stale incarnations, never take a live member's address from someone else, treat a
// remote "dead" as a suspicion), and the watchers assert that no member that was not accused ever changed
// state, address or metadata in anyone's view (no flapping).
//
// Processing is confirmed, never slept for: each packet ends with a "marker", a suspicion of the receiver
// itself at a new incarnation. Messages of one packet are handled in order (Bun: synchronously; Go: its
// low-priority queue, which also holds suspect and dead), so once the receiver has refuted the marker the
// parts before it were applied. Go's alive messages jump that queue; for them we wait for Go's own log line.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { udp } from "bun";
import { decodePacket, encodeCompound, encodeMessage, encodePacket } from "../../src/cluster/codec.ts";
import { Memberlist, type Member } from "../../src/cluster/memberlist.ts";
import { type Message, NodeStateCode, OUR_VSN, type PushNodeState } from "../../src/cluster/messages.ts";
import { Keyring } from "../../src/cluster/security.ts";
import { encodeStreamMessage, StreamDecoder } from "../../src/cluster/stream.ts";
import { suspicionTimeoutMs } from "../../src/cluster/suspicion.ts";
import { requirePrerequisite } from "../helpers/prereq.ts";
import { buildGoPeer, GO_INSTALL, type GoMember, GoNode } from "../interop/gonode.ts";
import { quietLogger, TestMeta, waitFor } from "./helpers.ts";

const go = await buildGoPeer();
const noGo = requirePrerequisite("adversarial gossip (Go memberlist is the oracle)", go.ok ? undefined : go.missing, GO_INSTALL);

const KEY = new Uint8Array(32).map((_, i) => (i * 29 + 3) & 0xff);
const LOOPBACK = new Uint8Array([127, 0, 0, 1]);
const PROBE_MS = 300;
const SUSPICION_MULT = 4;
const MAX_MULT = 6;
const GO_TIMING = { probeInterval: `${PROBE_MS}ms`, probeTimeout: "150ms", gossipInterval: "100ms", suspicionMult: SUSPICION_MULT, pushPullInterval: "3s" };
const BUN_TIMING = {
  probeIntervalMs: PROBE_MS,
  probeTimeoutMs: 150,
  gossipIntervalMs: 100,
  suspicionMult: SUSPICION_MULT,
  suspicionMaxTimeoutMult: MAX_MULT,
  pushPullIntervalMs: 3000,
  tcpTimeoutMs: 2000,
  joinRetryMaxMs: 1000,
};
/** Gossip reaches everyone in a few gossip rounds; a push/pull round is the backstop. Slack for a loaded CI. */
const SPREAD_MS = 3000 + 3000;
// (Every test passes its own timeout: Bun 1.4.4 ignores bunfig's, and the default 5 s is below these bounds.)

const enc = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** The non-member: one UDP socket that sends the hostile packets (and hears the acks nobody asked it for). */
class Mallory {
  private constructor(
    private readonly sock: udp.Socket<"uint8array">,
    private readonly ring: Keyring | undefined,
  ) {}

  static async start(ring: Keyring | undefined): Promise<Mallory> {
    const sock = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0, binaryType: "uint8array", socket: { data() {}, error() {} } });
    return new Mallory(sock, ring);
  }

  get port(): number {
    return this.sock.port;
  }

  /** One packet: the messages in order (a compound when more than one), encrypted when the cluster is. */
  send(port: number, msgs: Message[]): void {
    const parts = msgs.map((m) => encodeMessage(m));
    const payload = parts.length === 1 ? parts[0]! : encodeCompound(parts);
    const packet = encodePacket(payload, { keyring: this.ring });
    // what we send must be a well-formed packet: it decodes with the cluster's key to exactly these messages
    expect(decodePacket(packet, { keyring: this.ring }).map((m) => m.type)).toEqual(msgs.map((m) => m.type));
    this.sock.send(packet, port, "127.0.0.1");
  }

  /** A push/pull over TCP (join = false); resolves with the receiver's reply. */
  pushPull(port: number, states: PushNodeState[]): Promise<Message> {
    const request = encodeStreamMessage({ type: "pushPull", body: { join: false, states, userState: new Uint8Array(0) } }, { keyring: this.ring });
    const dec = new StreamDecoder({ keyring: this.ring });
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (f: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        f();
      };
      const timer = setTimeout(() => settle(() => reject(new Error("push/pull: no reply in 5 s"))), 5000);
      Bun.connect({
        hostname: "127.0.0.1",
        port,
        socket: {
          open: (s) => void s.write(request),
          data: (s, chunk) => {
            try {
              const msg = dec.push(new Uint8Array(chunk));
              if (!msg) return;
              settle(() => resolve(msg));
              s.end();
            } catch (err) {
              settle(() => reject(err as Error));
            }
          },
          close: () => settle(() => reject(new Error("push/pull: closed without a reply"))),
          error: (_s, err) => settle(() => reject(err)),
        },
      }).catch((err: Error) => settle(() => reject(err)));
    });
  }

  close(): void {
    this.sock.close();
  }
}

interface Change {
  at: number;
  observer: string;
  member: string;
  from: string;
  to: string;
}

/** What a view shows of a member, apart from its incarnation (which refutations legitimately raise). */
const shape = (state: string, address: string, port: number, meta: string) => `${state} ${address}:${port} ${JSON.stringify(meta)}`;

/**
 * Watches every view of the cluster: t and m1 (every 10 ms, in process) and g (its Members(), every
 * 100 ms), and records every change of a member's state, address or metadata. A member absent from
 * Go's Members() is dead or left there.
 */
class Watch {
  readonly changes: Change[] = [];
  private readonly last = new Map<string, string>();
  private running = true;
  private readonly loops: Promise<void>[];
  /** Completed polls of Go's view. */
  private goPolls = 0;

  constructor(bun: Memberlist[], goNode: GoNode, names: string[]) {
    this.loops = [
      (async () => {
        while (this.running) {
          for (const m of bun) for (const x of m.members()) if (names.includes(x.name)) this.see(m.localName, x.name, shape(x.state, x.address, x.port, text(x.meta)));
          await Bun.sleep(10);
        }
      })(),
      (async () => {
        while (this.running) {
          let ms: GoMember[];
          try {
            ms = await goNode.members();
          } catch {
            break; // the Go node was stopped
          }
          for (const n of names) {
            const x = ms.find((m) => m.name === n);
            this.see("g", n, x ? shape(x.state, x.addr, x.port, x.meta) : "gone");
          }
          this.goPolls++;
          await Bun.sleep(100);
        }
      })(),
    ];
  }

  private see(observer: string, member: string, now: string): void {
    const key = `${observer}\u0000${member}`;
    const prev = this.last.get(key);
    if (prev !== undefined && prev !== now) this.changes.push({ at: Date.now(), observer, member, from: prev, to: now });
    this.last.set(key, now);
  }

  /** Waits for a poll of every view that began after this call, so what happened before is recorded before it. */
  async flush(): Promise<void> {
    const want = this.goPolls + 2;
    await waitFor("the watcher polls Go", () => this.goPolls >= want || !this.running);
    await Bun.sleep(20); // two polls of the in-process views
  }

  /** flush(), then the time from which changes count. */
  async mark(): Promise<number> {
    await this.flush();
    return Date.now();
  }

  /** Changes of `member` seen since `since` (epoch ms); flush() first. */
  of(member: string, since: number): Change[] {
    return this.changes.filter((c) => c.member === member && c.at >= since);
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

describe.skipIf(noGo).each([
  ["plaintext", false],
  ["encrypted", true],
] as const)("adversarial gossip at Bun and Go (%s)", (_label, encrypted) => {
  const ring = encrypted ? new Keyring(KEY) : undefined;
  const secrets = encrypted ? { primary: `base64:${Buffer.from(KEY).toString("base64")}` } : undefined;
  const bunNodes: Memberlist[] = [];
  let t: Memberlist;
  let m1: Memberlist;
  let m1Meta: TestMeta;
  let g: GoNode;
  let mallory: Mallory;
  let silent: Mallory;
  let watch: Watch;
  const REAL = ["t", "m1", "g"];
  let markers = 0;
  /** The highest incarnation each node has been accused at: a view that has not caught up yet never makes a stale accusation. */
  const accused = new Map<string, number>();
  const nextAccusation = (name: string, from: Memberlist = t): number => {
    const inc = Math.max(view(from, name).incarnation, accused.get(name) ?? 0) + 10;
    accused.set(name, inc + 1);
    return inc;
  };

  const view = (from: Memberlist, name: string): Member => {
    const v = from.members().find((x) => x.name === name);
    if (!v) throw new Error(`${from.localName} does not know ${name}`);
    return v;
  };
  const portOf = (name: string) => (name === "g" ? g.port : name === "t" ? t.port : m1.port);

  /**
   * Sends `msgs` to `to` ("t" or "g") in one packet, followed by a marker (a suspicion of `to` itself at a
   * new incarnation from a fresh accuser), and waits until `to` has refuted the marker: then every message
   * before it in the packet has been applied.
   */
  async function deliver(to: "t" | "g", msgs: Message[]): Promise<void> {
    const from = `mallory-marker-${++markers}`;
    const inc = nextAccusation(to);
    mallory.send(portOf(to), [...msgs, { type: "suspect", body: { node: to, incarnation: inc, from } }]);
    if (to === "t") await waitFor(`t refutes marker ${from}`, () => view(t, "t").incarnation > inc);
    else await waitFor(`g refutes marker ${from}`, () => g.stderr.includes(`Refuting a suspect message (from: ${from})`));
  }

  /** Both receivers: Bun's t and Go's g. */
  async function deliverToBoth(msgs: (to: "t" | "g") => Message[]): Promise<void> {
    await Promise.all([deliver("t", msgs("t")), deliver("g", msgs("g"))]);
  }

  /** Waits until every view (t, m1, g) shows every real member alive with its own address and metadata. */
  async function settled(timeoutMs = SPREAD_MS): Promise<void> {
    let goOk = false;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const bunOk = [t, m1].every((m) => REAL.every((n) => m.members().some((x) => x.name === n && x.state === "alive" && x.port === portOf(n) && text(x.meta) === `meta-${n}`)));
      const gm = await g.members();
      goOk = REAL.every((n) => gm.some((x) => x.name === n && x.state === "alive" && x.port === portOf(n) && x.meta === `meta-${n}`));
      if (bunOk && goOk) return;
      if (performance.now() > deadline) throw new Error(`cluster did not settle: t=${JSON.stringify(t.members())} g=${JSON.stringify(gm)}`);
      await Bun.sleep(20);
    }
  }

  beforeAll(async () => {
    if (!go.ok) return;
    const base = { bindAddress: "127.0.0.1", bindPort: 0, logger: quietLogger(), secrets, ...BUN_TIMING };
    t = await Memberlist.create({ ...base, name: "t", peers: [], delegate: new TestMeta(enc("meta-t")) });
    bunNodes.push(t);
    m1Meta = new TestMeta(enc("meta-m1"));
    m1 = await Memberlist.create({ ...base, name: "m1", peers: [`127.0.0.1:${t.port}`], delegate: m1Meta });
    bunNodes.push(m1);
    g = await GoNode.start(go.binary, { name: "g", meta: "meta-g", join: [`127.0.0.1:${t.port}`], key: encrypted ? KEY : undefined, ...GO_TIMING });
    await settled(10_000);
    mallory = await Mallory.start(ring);
    silent = await Mallory.start(ring); // a port that never answers
    watch = new Watch([t, m1], g, [...REAL, "ghost", "big"]);
  }, 30_000);

  afterAll(async () => {
    await watch?.stop();
    g?.kill();
    mallory?.close();
    silent?.close();
    await Promise.all(bunNodes.splice(0).map((m) => m.shutdown()));
  }, 30_000);

  test("claims about ourselves at a higher incarnation (alive with other meta, suspect, dead) are refuted, by Bun as by Go", async () => {
    const since = await watch.mark();
    const refutationsBefore = t.metrics().refutations;
    for (const self of ["t", "g"] as const) {
      let inc = nextAccusation(self, m1);
      const forged = { type: "alive", body: { node: self, incarnation: inc, addr: LOOPBACK, port: portOf(self), meta: enc("forged"), vsn: OUR_VSN } } as const;
      mallory.send(portOf(self), [forged]);
      await waitFor(`m1 sees ${self}'s refutation of the forged alive`, () => view(m1, self).incarnation > inc, SPREAD_MS);
      inc = nextAccusation(self, m1);
      mallory.send(portOf(self), [{ type: "suspect", body: { node: self, incarnation: inc, from: "mallory" } }]);
      await waitFor(`m1 sees ${self}'s refutation of the suspicion`, () => view(m1, self).incarnation > inc, SPREAD_MS);
      inc = nextAccusation(self, m1);
      mallory.send(portOf(self), [{ type: "dead", body: { node: self, incarnation: inc, from: "mallory" } }]);
      await waitFor(`m1 sees ${self}'s refutation of the death`, () => view(m1, self).incarnation > inc, SPREAD_MS);
    }
    // Go did refute each (its log says so), and Bun counted its three
    for (const line of ["Refuting an alive message for 'g'", "Refuting a suspect message (from: mallory)", "Refuting a dead message (from: mallory)"]) expect(g.stderr).toContain(line);
    expect(t.metrics().refutations - refutationsBefore).toBe(3);
    await settled();
    // Nobody ever showed t or g as anything but alive with their own meta: the accusations were never believed.
    await watch.flush();
    expect([...watch.of("t", since), ...watch.of("g", since), ...watch.of("m1", since)]).toEqual([]);
  }, 30_000);

  test("accusations of a member: newer ones are believed and refuted by the accused, stale ones are ignored, by Bun as by Go", async () => {
    // newer suspicion: t and g suspect m1, m1 hears it and refutes, everyone sees it alive above the accusation
    let since = await watch.mark();
    let inc = view(t, "m1").incarnation + 5;
    await deliverToBoth(() => [{ type: "suspect", body: { node: "m1", incarnation: inc, from: "mallory" } }]);
    await waitFor("m1 refutes the suspicion", () => view(m1, "m1").incarnation > inc);
    await settled();
    expect(view(t, "m1").incarnation).toBeGreaterThan(inc);
    // m1 was at most suspected, never declared dead, and nobody else moved
    await watch.flush();
    for (const c of watch.of("m1", since)) expect([c.from, c.to].every((s) => s.startsWith("alive") || s.startsWith("suspect"))).toBe(true);
    await watch.flush();
    expect([...watch.of("t", since), ...watch.of("g", since)]).toEqual([]);

    // newer death (from someone else): believed, then refuted; m1 is alive everywhere again
    since = await watch.mark();
    inc = view(t, "m1").incarnation + 5;
    await deliverToBoth(() => [{ type: "dead", body: { node: "m1", incarnation: inc, from: "mallory" } }]);
    await waitFor("m1 refutes the death", () => view(m1, "m1").incarnation > inc);
    await settled();
    expect(view(t, "m1").incarnation).toBeGreaterThan(inc);
    await watch.flush();
    expect([...watch.of("t", since), ...watch.of("g", since)]).toEqual([]);

    // stale suspicion and death: ignored by both receivers, m1 never hears of them
    since = await watch.mark();
    const cur = view(t, "m1").incarnation;
    expect(cur).toBeGreaterThan(0);
    const m1Refutations = m1.metrics().refutations;
    const suspicionsAtT = t.metrics().suspicionsRaised;
    await deliverToBoth(() => [
      { type: "suspect", body: { node: "m1", incarnation: cur - 1, from: "mallory" } },
      { type: "dead", body: { node: "m1", incarnation: cur - 1, from: "mallory" } },
    ]);
    expect(view(t, "m1")).toMatchObject({ state: "alive", incarnation: cur });
    expect(t.metrics().suspicionsRaised).toBe(suspicionsAtT);
    expect(m1.metrics().refutations).toBe(m1Refutations);
    expect((await g.members()).find((x) => x.name === "m1")?.state).toBe("alive");
    await watch.flush();
    expect(watch.of("m1", since)).toEqual([]);
  }, 30_000);

  test("another address for a live member is refused even at a higher incarnation, by Bun as by Go", async () => {
    const since = await watch.mark();
    const before = view(t, "m1");
    const conflicts = g.stderr.split("Conflicting address for m1").length;
    await deliverToBoth(() => [
      { type: "alive", body: { node: "m1", incarnation: before.incarnation + 10, addr: LOOPBACK, port: silent.port, meta: enc("hijacked"), vsn: OUR_VSN } },
    ]);
    // Go logs the conflict (alive messages skip its queue, so the marker alone does not prove it was handled)
    await waitFor("Go reports the conflicting address", () => g.stderr.split("Conflicting address for m1").length > conflicts);
    expect(view(t, "m1")).toMatchObject({ state: "alive", port: m1.port, incarnation: before.incarnation, address: "127.0.0.1" });
    expect(text(view(t, "m1").meta)).toBe("meta-m1");
    expect((await g.members()).find((x) => x.name === "m1")).toMatchObject({ state: "alive", port: m1.port, meta: "meta-m1" });
    await watch.flush();
    expect(watch.of("m1", since)).toEqual([]);
  }, 30_000);

  test("alive for an unknown node from a non-member is taken, as Go takes it, and the node is declared dead when it never answers", async () => {
    const since = await watch.mark();
    const ghost = { type: "alive", body: { node: "ghost", incarnation: 1, addr: LOOPBACK, port: silent.port, meta: enc("boo"), vsn: OUR_VSN } } as const;
    await deliverToBoth(() => [ghost]);
    // the oracle: Go accepted it (memberlist has no notion of who may announce whom, short of a delegate)
    expect((await g.members()).some((x) => x.name === "ghost")).toBe(true);
    expect(t.members().some((x) => x.name === "ghost")).toBe(true);
    // Detection bound in protocol terms: every member is probed once per round of n probe intervals (n = 4,
    // stretched by the awareness multiplier when probes fail), then the suspicion runs for at most
    // suspicionMaxTimeoutMult × its minimum.
    const n = 4;
    const boundMs = n * PROBE_MS * 2 + MAX_MULT * suspicionTimeoutMs(SUSPICION_MULT, n, PROBE_MS) + 2000;
    const took = await waitFor("t declares the ghost dead", () => view(t, "ghost").state === "dead", boundMs);
    await g.waitMembers((ms) => !ms.some((x) => x.name === "ghost"), boundMs);
    expect(took).toBeLessThan(boundMs);
    await settled();
    await watch.flush();
    for (const n of REAL) expect(watch.of(n, since)).toEqual([]);
  }, 30_000);

  test("an alive with metadata far over the 512-byte limit is treated as Go treats it, and gossip keeps flowing", async () => {
    const since = await watch.mark();
    const big = { type: "alive", body: { node: "big", incarnation: 1, addr: LOOPBACK, port: silent.port, meta: new Uint8Array(4000).fill(0x41), vsn: OUR_VSN } } as const;
    await deliverToBoth(() => [big]);
    // Go keeps the node with its whole metadata (the 512-byte limit binds only a node's own meta); so must we
    const goBig = (await g.members()).find((x) => x.name === "big");
    const bunBig = t.members().find((x) => x.name === "big");
    expect(bunBig !== undefined).toBe(goBig !== undefined);
    if (goBig && bunBig) expect(text(bunBig.meta)).toBe(goBig.meta);
    // A member's metadata change still reaches everyone within the spread bound (the oversized broadcast,
    // which fits in no packet, must not block the queue).
    m1Meta.meta = enc("meta-m1-v2");
    m1.updateNode();
    await waitFor("t sees m1's new meta", () => text(view(t, "m1").meta) === "meta-m1-v2", SPREAD_MS);
    await g.waitMembers((ms) => ms.some((x) => x.name === "m1" && x.meta === "meta-m1-v2"), SPREAD_MS);
    m1Meta.meta = enc("meta-m1");
    m1.updateNode();
    await settled();
    await watch.flush();
    for (const n of ["t", "g"]) expect(watch.of(n, since)).toEqual([]);
  }, 30_000);

  test("push/pull states that disagree with the sender (the receiver dead, a member elsewhere, a stale suspicion) follow memberlist's merge rules, in Bun as in Go", async () => {
    for (const to of ["t", "g"] as const) {
      const since = await watch.mark();
      const selfInc = nextAccusation(to);
      const m1Now = view(t, "m1");
      const conflicts = g.stderr.split("Conflicting address for m1").length;
      const state = (name: string, s: keyof typeof NodeStateCode, incarnation: number, port: number, meta = ""): PushNodeState => ({
        name,
        addr: LOOPBACK,
        port,
        meta: enc(meta),
        incarnation,
        state: NodeStateCode[s],
        vsn: OUR_VSN,
      });
      const reply = await mallory.pushPull(portOf(to), [
        state("mallory", "alive", 1, mallory.port, "me"),
        // the receiver itself, dead: merged as a suspicion of itself, which it refutes
        state(to, "dead", selfInc, portOf(to)),
        // m1 somewhere else at a higher incarnation: a conflict, refused
        state("m1", "alive", m1Now.incarnation + 10, silent.port, "hijacked"),
        // m1 suspected at an older incarnation: ignored
        state("m1", "suspect", Math.max(0, m1Now.incarnation - 1), m1.port),
      ]);
      expect(reply.type).toBe("pushPull");
      await waitFor(`m1 sees ${to} refute the pushed death`, () => view(m1, to).incarnation > selfInc, SPREAD_MS);
      if (to === "g") {
        expect(g.stderr).toContain("Refuting a suspect message (from: g)");
        await waitFor("Go reports the conflicting address", () => g.stderr.split("Conflicting address for m1").length > conflicts);
      }
      await settled();
      expect(view(t, "m1")).toMatchObject({ incarnation: m1Now.incarnation, port: m1.port });
      await watch.flush();
      for (const n of REAL) expect(watch.of(n, since)).toEqual([]);
    }
  }, 30_000);
});
