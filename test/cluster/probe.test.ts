// Probe paths over real sockets, against hand-driven fake peers: the indirect-ping helper role
// (ack forwarding and nacks) and the TCP fallback ping.
import { afterEach, describe, expect, test } from "bun:test";
import type { udp } from "bun";
import { decodePacket, encodeMessage, encodePacket } from "../../src/cluster/codec.ts";
import { Memberlist } from "../../src/cluster/memberlist.ts";
import { type Message, OUR_VSN } from "../../src/cluster/messages.ts";
import { readStreamMessage, writeStreamMessage } from "../../src/cluster/net.ts";
import { NetTransport } from "../../src/cluster/nettransport.ts";
import { FAST, quietLogger, waitFor } from "./helpers.ts";

const LO = Uint8Array.from([127, 0, 0, 1]);
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function member(name: string): Promise<Memberlist> {
  const m = await Memberlist.create({ ...FAST, name, bindAddress: "127.0.0.1", bindPort: 0, peers: [], logger: quietLogger() });
  cleanups.push(() => m.shutdown());
  return m;
}

/** A UDP endpoint that records every decoded message (and never answers). */
async function listener(port = 0): Promise<{ sock: udp.Socket<"uint8array">; got: Message[] }> {
  const got: Message[] = [];
  const sock = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port,
    binaryType: "uint8array",
    socket: {
      data(_s, buf) {
        try {
          got.push(...decodePacket(buf));
        } catch {
          // not ours to judge
        }
      },
      error() {},
    },
  });
  cleanups.push(() => sock.close());
  return { sock, got };
}

/** A fake node on one UDP+TCP port: records UDP messages, never acks them; answers stream pings if `tcpAnswers`. */
async function fakeNode(tcpAnswers: boolean): Promise<{ port: number; got: Message[]; tcpPings: () => number }> {
  const got: Message[] = [];
  let tcpPings = 0;
  const t = await NetTransport.bind({ bindAddress: "127.0.0.1", bindPort: 0, logger: quietLogger() });
  t.start({
    packet: (buf) => {
      try {
        got.push(...decodePacket(buf));
      } catch {
        // not ours to judge
      }
    },
    stream: async (conn) => {
      const msg = await readStreamMessage(conn, null).catch(() => null);
      if (msg?.type === "ping") {
        tcpPings++;
        if (tcpAnswers) writeStreamMessage(conn, { type: "ackResp", body: { seqNo: msg.body.seqNo, payload: null } }, null);
      }
      conn.end();
    },
  });
  cleanups.push(() => t.close());
  return { port: t.port, got, tcpPings: () => tcpPings };
}

/** Tells `m` (over UDP) that a node `name` lives at 127.0.0.1:port. */
async function announce(m: Memberlist, name: string, port: number): Promise<void> {
  const sock = await Bun.udpSocket({ socket: { error() {} } });
  sock.send(encodePacket(encodeMessage({ type: "alive", body: { incarnation: 1, node: name, addr: LO, port, meta: new Uint8Array(), vsn: OUR_VSN } })), m.port, "127.0.0.1");
  sock.close();
  await waitFor(`${m.localName} knows ${name}`, () => m.members().some((x) => x.name === name));
}

describe("indirect ping helper", () => {
  test("pings the target for the requester and forwards its ack under the original sequence number", async () => {
    const helper = await member("helper");
    const target = await member("target");
    const requester = await listener();
    const req = encodeMessage({
      type: "indirectPing",
      body: { seqNo: 4242, target: LO, port: target.port, node: "target", nack: true, sourceAddr: LO, sourcePort: requester.sock.port, sourceNode: "req" },
    });
    requester.sock.send(encodePacket(req), helper.port, "127.0.0.1");
    await waitFor("forwarded ack", () => requester.got.some((m) => m.type === "ackResp" && m.body.seqNo === 4242));
    // an answered request gets no nack later
    await Bun.sleep(FAST.probeTimeoutMs * 2);
    expect(requester.got.some((m) => m.type === "nackResp")).toBe(false);
  });

  test("sends a nack after the probe timeout when the target stays silent and a nack was asked for", async () => {
    const helper = await member("helper");
    const silent = await listener();
    const requester = await listener();
    const ask = (seqNo: number, nack: boolean) =>
      requester.sock.send(
        encodePacket(encodeMessage({ type: "indirectPing", body: { seqNo, target: LO, port: silent.sock.port, node: "ghost", nack, sourceAddr: LO, sourcePort: requester.sock.port } })),
        helper.port,
        "127.0.0.1",
      );
    ask(7, true);
    ask(8, false);
    await waitFor("nack", () => requester.got.some((m) => m.type === "nackResp" && m.body.seqNo === 7));
    await Bun.sleep(FAST.probeTimeoutMs * 2);
    expect(requester.got.some((m) => m.type === "nackResp" && m.body.seqNo === 8)).toBe(false);
    expect(requester.got.some((m) => m.type === "ackResp")).toBe(false);
    // the helper did ping the target, for the right node name
    expect(silent.got.some((m) => m.type === "ping" && m.body.node === "ghost")).toBe(true);
  });
});

describe("TCP fallback ping", () => {
  test("a node that answers only over TCP is not suspected", async () => {
    const a = await member("a");
    const f = await fakeNode(true);
    await announce(a, "tcp-only", f.port);
    await waitFor("a few TCP fallback pings", () => f.tcpPings() >= 3, 5000);
    expect(a.members().find((x) => x.name === "tcp-only")?.state).toBe("alive");
    expect(a.metrics().suspicionsRaised).toBe(0);
    expect(f.got.some((m) => m.type === "ping" && m.body.node === "tcp-only")).toBe(true);
  });

  test("a node silent on UDP and TCP is suspected, then declared dead", async () => {
    const a = await member("a");
    const f = await fakeNode(false);
    await announce(a, "mute", f.port);
    await waitFor("suspected", () => a.members().find((x) => x.name === "mute")?.state !== "alive", 5000);
    expect(f.tcpPings()).toBeGreaterThan(0);
    // k = 0 with N = 2: dead after the minimum suspicion time
    await waitFor("dead", () => a.members().find((x) => x.name === "mute")?.state === "dead", 5000);
    expect(a.metrics().probeFailures).toBeGreaterThan(0);
    // failed probes with nobody to ask for nacks raise the health score
    expect(a.healthScore()).toBeGreaterThan(0);
  });
});
