// The fault-injecting Transport wrapper (test/helpers/faults.ts) around real sockets: loss both ways,
// delay, one-way loss by address (UDP and TCP), lost SYNs; off by default; the env/signal control of a
// node process started through the test entry point.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FAULTS_ENV, FaultSpecError, FaultyTransport, faults, parseFaultSpec, setFaults } from "../helpers/faults.ts";
import { NetTransport } from "../../src/cluster/nettransport.ts";
import { type Endpoint, type Stream, StreamError, type Transport } from "../../src/cluster/transport.ts";
import { quietLogger } from "./helpers.ts";

const open: Transport[] = [];
afterEach(async () => {
  setFaults(null);
  for (const t of open.splice(0)) await t.close();
});

async function transport(bind = "127.0.0.1", onPacket: (b: Uint8Array, f: Endpoint) => void = () => {}, onStream: (c: Stream) => void = () => {}) {
  const t = new FaultyTransport(await NetTransport.bind({ bindAddress: bind, bindPort: 0, logger: quietLogger() }));
  t.start({ packet: onPacket, stream: onStream });
  open.push(t);
  return t;
}

/** Sends `n` packets from b to a (in small batches so the kernel never drops any), returns how many arrived. */
async function blast(n: number): Promise<number> {
  let got = 0;
  const a = await transport("127.0.0.1", () => got++);
  const b = await transport();
  const one = new Uint8Array(16);
  const out0 = faults.stats.droppedOut;
  const in0 = faults.stats.droppedIn;
  for (let i = 0; i < n; i++) {
    b.sendPacket(one, { address: "127.0.0.1", port: a.port });
    if (i % 50 === 49) await Bun.sleep(1);
  }
  // Wait until every packet the hook let out is accounted for (arrived, or dropped on the way in); no fixed sleep.
  const settled = () => got + (faults.stats.droppedIn - in0) === n - (faults.stats.droppedOut - out0);
  const deadline = performance.now() + 5000;
  while (!settled() && performance.now() < deadline) await Bun.sleep(5);
  return got;
}

describe("FaultyTransport", () => {
  test("off by default and after an empty spec: every packet arrives", async () => {
    expect(faults.enabled).toBe(false);
    setFaults({ blockMs: 10 });
    expect(faults.enabled).toBe(false);
    expect(await blast(1000)).toBe(1000);
  });

  test("lossOut drops that share of outbound packets", async () => {
    setFaults({ lossOut: 0.3 });
    const got = await blast(2000);
    // binomial: mean 1400, sd ≈ 20
    expect(got).toBeGreaterThan(1300);
    expect(got).toBeLessThan(1500);
    expect(faults.stats.droppedOut).toBeGreaterThan(0);
  });

  test("lossIn drops that share of inbound packets", async () => {
    setFaults({ lossIn: 0.1 });
    const got = await blast(2000);
    expect(got).toBeGreaterThan(1700);
    expect(got).toBeLessThan(1900);
  });

  test("delayMs holds outbound packets back", async () => {
    let at = 0;
    const a = await transport("127.0.0.1", () => (at = performance.now()));
    const b = await transport();
    setFaults({ delayMs: 150, jitterMs: 20 });
    const t0 = performance.now();
    expect(b.sendPacket(new Uint8Array(4), { address: "127.0.0.1", port: a.port })).toBe(true);
    await Bun.sleep(60);
    expect(at).toBe(0);
    const end = performance.now() + 2000;
    while (at === 0 && performance.now() < end) await Bun.sleep(5);
    expect(at - t0).toBeGreaterThanOrEqual(145);
  });

  test("dropFrom: nothing from that address arrives over UDP; dials to it time out", async () => {
    const got: string[] = [];
    const a = await transport("127.0.0.2", (_b, f) => got.push(f.address));
    const b = await transport("127.0.0.3");
    const c = await transport("127.0.0.4");
    setFaults({ dropFrom: ["127.0.0.3"] });
    b.sendPacket(new Uint8Array(4), { address: "127.0.0.2", port: a.port });
    c.sendPacket(new Uint8Array(4), { address: "127.0.0.2", port: a.port });
    await Bun.sleep(100);
    expect(got).toEqual(["127.0.0.4"]);
    // A handshake needs both directions: a → b never connects.
    const t0 = performance.now();
    const err = await a.dial({ address: "127.0.0.3", port: b.port }, 200).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamError);
    expect((err as StreamError).kind).toBe("timeout");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    // Other peers are untouched.
    (await a.dial({ address: "127.0.0.4", port: c.port }, 1000)).close();
  });

  test("an accepted stream from a dropped address is closed at once", async () => {
    const accepted: string[] = [];
    const a = await transport("127.0.0.2", () => {}, (c) => accepted.push(c.remoteAddress));
    const b = await transport("127.0.0.3");
    // Outbound TCP on loopback leaves from 127.0.0.1 whatever the bind address.
    setFaults({ dropFrom: ["127.0.0.1"] });
    const conn = await b.dial({ address: "127.0.0.2", port: a.port }, 1000);
    expect(await conn.read()).toBeNull();
    expect(accepted).toEqual([]);
    expect(faults.stats.refusedStreams).toBeGreaterThan(0);
  });

  test("dropTo: nothing we send to that address arrives", async () => {
    let got = 0;
    const a = await transport("127.0.0.2", () => got++);
    const b = await transport("127.0.0.3");
    setFaults({ dropTo: ["127.0.0.2"] });
    expect(b.sendPacket(new Uint8Array(4), { address: "127.0.0.2", port: a.port })).toBe(true);
    await Bun.sleep(100);
    expect(got).toBe(0);
    setFaults(null);
    b.sendPacket(new Uint8Array(4), { address: "127.0.0.2", port: a.port });
    await Bun.sleep(100);
    expect(got).toBe(1);
  });

  test("partition: groups reach each other only inside, whatever process the nodes share", async () => {
    const got: string[] = [];
    const rec = (who: string) => (_b: Uint8Array, f: Endpoint) => got.push(`${f.address}>${who}`);
    const a = await transport("127.0.0.2", rec("a"));
    const b = await transport("127.0.0.3", rec("b"));
    const c = await transport("127.0.0.4", rec("c"));
    setFaults({ partition: [["127.0.0.2", "127.0.0.3"], ["127.0.0.4"]] });
    const one = new Uint8Array(4);
    a.sendPacket(one, { address: "127.0.0.3", port: b.port });
    a.sendPacket(one, { address: "127.0.0.4", port: c.port });
    c.sendPacket(one, { address: "127.0.0.2", port: a.port });
    c.sendPacket(one, { address: "127.0.0.4", port: c.port });
    await Bun.sleep(100);
    expect(got.sort()).toEqual(["127.0.0.2>b", "127.0.0.4>c"]);
    const err = await a.dial({ address: "127.0.0.4", port: c.port }, 100).catch((e: unknown) => e);
    expect((err as StreamError).kind).toBe("timeout");
    (await a.dial({ address: "127.0.0.3", port: b.port }, 1000)).close();
  });

  test("synLoss: a connect waits one initial RTO; within a shorter deadline it times out", async () => {
    const a = await transport();
    const b = await transport();
    setFaults({ synLoss: 1 });
    const t0 = performance.now();
    (await b.dial({ address: "127.0.0.1", port: a.port }, 5000)).close();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(990);
    const err = await b.dial({ address: "127.0.0.1", port: a.port }, 100).catch((e: unknown) => e);
    expect((err as StreamError).kind).toBe("timeout");
  });

  test("specs are checked: unknown keys, probabilities outside [0, 1], bad JSON", () => {
    expect(parseFaultSpec('{"lossOut":0.5,"dropFrom":["127.0.0.9"]}', "t")).toEqual({ lossOut: 0.5, dropFrom: ["127.0.0.9"] });
    expect(() => parseFaultSpec('{"loss":0.5}', "t")).toThrow(FaultSpecError);
    expect(() => parseFaultSpec('{"lossOut":1.5}', "t")).toThrow(/lossOut/);
    expect(() => parseFaultSpec('{"dropTo":"127.0.0.1"}', "t")).toThrow(/dropTo/);
    expect(() => parseFaultSpec("{", "t")).toThrow(/not JSON/);
    expect(() => parseFaultSpec('{"partition":["127.0.0.1"]}', "t")).toThrow(/partition\[0\]/);
    expect(() => setFaults({ delayMs: -1 })).toThrow(/delayMs/);
  });
});

describe("node process control", () => {
  const entry = join(import.meta.dir, "../helpers/faultynode.ts");
  // Reports the active spec every 50 ms and any event-loop stall it noticed.
  const probe = `
import { faults } from ${JSON.stringify(join(import.meta.dir, "../helpers/faults.ts"))};
import { installFaultControl } from ${JSON.stringify(entry)};
import { createLogger } from ${JSON.stringify(join(import.meta.dir, "../../src/log.ts"))};
const on = Object.keys(installFaultControl(process.env, createLogger("t"))()).length > 0;
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  console.log(JSON.stringify({ on, enabled: faults.enabled, spec: faults.current, gap: Math.round(now - last) }));
  last = now;
}, 50);
`;

  test("a bad CLUSTERCLUB_TEST_FAULTS stops the node with exit 2", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cc-faults-"));
    const cfg = join(dir, "n.toml");
    writeFileSync(cfg, '[cluster]\nlisten_port = 0\nbind_address = "127.0.0.1"\n[proxy]\nlisten_port = 0\n[admin]\nlisten_port = 0\n[[backends]]\naddress = \"127.0.0.1:1\"\n');
    const p = Bun.spawn(["bun", entry, cfg], {
      env: { ...process.env, [FAULTS_ENV]: '{"lossOut":2}' },
      stdout: "ignore",
      stderr: "pipe",
    });
    expect(await p.exited).toBe(2);
    expect(await new Response(p.stderr).text()).toContain("lossOut");
  });

  test("env applies at start; SIGUSR1 reloads the control file; SIGUSR2 blocks the event loop", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cc-faults-"));
    const file = join(dir, "faults.json");
    const p = Bun.spawn(["bun", "-e", probe], {
      env: { ...process.env, [FAULTS_ENV]: JSON.stringify({ lossOut: 0.1, file, blockMs: 600 }) },
      stdout: "pipe",
      stderr: "ignore",
    });
    const lines: { on: boolean; enabled: boolean; spec: Record<string, unknown>; gap: number }[] = [];
    void (async () => {
      let buf = "";
      for await (const chunk of p.stdout) {
        buf += new TextDecoder().decode(chunk);
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          lines.push(JSON.parse(buf.slice(0, nl)));
          buf = buf.slice(nl + 1);
        }
      }
    })();
    const wait = async (cond: () => boolean) => {
      const end = performance.now() + 5000;
      while (!cond()) {
        if (performance.now() > end) throw new Error(`not met; last: ${JSON.stringify(lines.at(-1))}`);
        await Bun.sleep(20);
      }
    };
    try {
      await wait(() => lines.length > 0);
      expect(lines[0]).toMatchObject({ on: true, enabled: true, spec: { lossOut: 0.1 } });
      writeFileSync(file, JSON.stringify({ dropFrom: ["127.0.0.9"] }));
      p.kill("SIGUSR1");
      await wait(() => (lines.at(-1)?.spec.dropFrom as string[] | undefined)?.[0] === "127.0.0.9");
      expect(lines.at(-1)!.spec.lossOut).toBeUndefined();
      writeFileSync(file, "{}");
      p.kill("SIGUSR1");
      await wait(() => lines.at(-1)?.enabled === false);
      const n = lines.length;
      p.kill("SIGUSR2");
      await wait(() => lines.slice(n).some((l) => l.gap >= 550));
    } finally {
      p.kill("SIGKILL");
    }
  });
});
