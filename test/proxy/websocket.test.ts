import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type BackendHandle, startBackend } from "../fixtures/backend.ts";
import { FAST_GOSSIP, deadPort, startNode, startTwoBackendsOneNode, type TwoBackendsOneNode, until } from "../helpers/node.ts";

type Node = Awaited<ReturnType<typeof startNode>>;

/** A client WebSocket with its received messages and close event as promises. */
function client(url: string, protocols?: string[]) {
  const ws = new WebSocket(url, protocols);
  ws.binaryType = "arraybuffer";
  const messages: (string | ArrayBuffer)[] = [];
  let notify: (() => void) | undefined;
  ws.onmessage = (e) => {
    messages.push(e.data as string | ArrayBuffer);
    notify?.();
  };
  const opened = new Promise<void>((res, rej) => {
    ws.onopen = () => res();
    ws.onerror = () => rej(new Error("websocket error"));
  });
  const closed = new Promise<CloseEvent>((res) => {
    ws.onclose = (e) => res(e);
  });
  const waitFor = async (n: number) => {
    while (messages.length < n) await new Promise<void>((r) => (notify = r));
  };
  return { ws, messages, opened, closed, waitFor };
}

describe("WebSocket proxying", () => {
  let setup: TwoBackendsOneNode;
  let a: BackendHandle;
  let b: BackendHandle;
  let node: Node;
  let wsUrl: string;

  beforeAll(async () => {
    setup = await startTwoBackendsOneNode();
    ({ a, b, node } = setup);
    wsUrl = node.url.replace("http:", "ws:") + "/ws";
  });
  afterAll(() => setup.stop());

  test("text and binary messages flow both ways; the subprotocol is negotiated with the backend", async () => {
    const c = client(wsUrl, ["chat.v2", "chat.v1"]);
    await c.opened;
    expect(c.ws.protocol).toBe("chat.v2");
    await c.waitFor(1);
    expect(String(c.messages[0])).toMatch(/^hello [ab]$/);
    c.ws.send("ping");
    c.ws.send(new Uint8Array([0, 1, 2, 255]));
    await c.waitFor(3);
    expect(c.messages[1]).toBe("ping");
    expect(new Uint8Array(c.messages[2] as ArrayBuffer)).toEqual(new Uint8Array([0, 1, 2, 255]));
    c.ws.close(1000, "done");
    expect((await c.closed).code).toBe(1000);
  });

  test("a backend's close code and reason reach the client", async () => {
    const c = client(wsUrl);
    await c.opened;
    c.ws.send("close 4001 going home");
    const e = await c.closed;
    expect(e.code).toBe(4001);
    expect(e.reason).toBe("going home");
  });

  test("a backend that drops mid-stream closes the client side cleanly (1011)", async () => {
    const c = client(wsUrl);
    await c.opened;
    await c.waitFor(1);
    c.ws.send("drop");
    const e = await c.closed;
    expect(e.code).toBe(1011);
  });

  test("a client that closes closes the backend side too", async () => {
    const before = a.wsOpen + b.wsOpen;
    const c = client(wsUrl);
    await c.opened;
    await until(() => a.wsOpen + b.wsOpen === before + 1);
    c.ws.close(1000);
    await until(() => a.wsOpen + b.wsOpen === before);
  });

  test("200 concurrent sockets, each echoing 20 messages, spread over both backends", async () => {
    const clients = Array.from({ length: 200 }, () => client(wsUrl));
    await Promise.all(clients.map((c) => c.opened));
    await Promise.all(
      clients.map(async (c, i) => {
        for (let k = 0; k < 20; k++) c.ws.send(`${i}:${k}`);
        await c.waitFor(21);
        expect(c.messages.slice(1)).toEqual(Array.from({ length: 20 }, (_, k) => `${i}:${k}`));
      }),
    );
    const greetings = clients.map((c) => String(c.messages[0]));
    expect(greetings.filter((g) => g === "hello a").length).toBe(100);
    clients.forEach((c) => c.ws.close(1000));
    await Promise.all(clients.map((c) => c.closed));
    await until(() => node.proxy.websocketsActive === 0);
  });

  test("a backend that died since its last check is skipped for the upgrade and marked down", async () => {
    const gone = startBackend({ name: "gone" });
    const up = startBackend({ name: "up" });
    // Slow checks: only the failed upgrade can reveal that `gone` is gone.
    const n = await startNode({ backends: [`127.0.0.1:${gone.port}`, `127.0.0.1:${up.port}`], health: 'interval = "30s"' });
    try {
      await gone.stop();
      for (let i = 0; i < 4; i++) {
        const c = client(n.url.replace("http:", "ws:") + "/ws");
        await c.opened;
        await c.waitFor(1);
        expect(c.messages[0]).toBe("hello up");
        c.ws.close();
      }
      expect(n.health.backends()[0]!.status).toBe("down");
    } finally {
      await n.stop(0);
      await up.stop();
    }
  });
});

describe("WebSocket through a peer node", () => {
  test("a socket opened on a node without backends is tunnelled via the peer that has them", async () => {
    const far = startBackend({ name: "far", hostname: "127.0.0.8" });
    const p1 = await startNode({ name: "w1", bind: "127.0.0.7", backends: [`127.0.0.7:${deadPort()}`], cluster: FAST_GOSSIP });
    const p2 = await startNode({
      name: "w2",
      bind: "127.0.0.8",
      backends: [`127.0.0.8:${far.port}`],
      cluster: `peers = ["127.0.0.7:${p1.cluster!.port}"]\n${FAST_GOSSIP}`,
    });
    try {
      await until(() => p1.router.pool("default")?.weightOf("w2") === 1, 10_000);
      const c = client(p1.url.replace("http:", "ws:") + "/ws");
      await c.opened;
      await c.waitFor(1);
      expect(c.messages[0]).toBe("hello far");
      c.ws.send("through two nodes");
      await c.waitFor(2);
      expect(c.messages[1]).toBe("through two nodes");
      // One hop: the backend saw both nodes in Via.
      expect(far.vias.at(-1)).toBe("1.1 w1, 1.1 w2");
      c.ws.close(1000);
    } finally {
      await p2.stop(0);
      await p1.stop(0);
      await far.stop();
    }
  });
});
