// [admin] allow on a real admin listener. Only loopback is reachable here, so this proves the deny path
// and the default; test/chaos/admin-acl.test.ts proves both from another host in a network namespace.
import { afterEach, describe, expect, test } from "bun:test";
import { AdminAcl, InvalidCidrError } from "../../src/admin/acl.ts";
import { AdminServer } from "../../src/admin/server.ts";
import type { StatusDoc } from "../../src/admin/status.ts";

const status: StatusDoc = { node: "n", version: "0", uptime_s: 0, healthy_backends: 0, pid: 1, workers: [], backends: [], pools: [], routes: [], cluster: null, members: [] };
const source = { status: () => status, metrics: () => "", ready: () => true };
let server: AdminServer | undefined;

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

function start(allow: string[]): string {
  server = new AdminServer({ listenPort: 0, bindAddress: "127.0.0.1", allow }, source);
  server.start();
  return `http://127.0.0.1:${server.port}`;
}

describe("AdminAcl", () => {
  test("allows only addresses inside a range; an unknown source is denied", () => {
    const acl = new AdminAcl(["127.0.0.0/8", "::1/128"]);
    expect(acl.allows("127.0.0.1")).toBe(true);
    expect(acl.allows("::ffff:127.0.0.1")).toBe(true);
    expect(acl.allows("::1")).toBe(true);
    expect(acl.allows("198.18.0.200")).toBe(false);
    expect(acl.allows(undefined)).toBe(false);
    expect(new AdminAcl([]).allows("127.0.0.1")).toBe(false);
  });

  test("a range the config parser would have refused is a typed error", () => {
    expect(() => new AdminAcl(["nope"])).toThrow(InvalidCidrError);
  });
});

describe("admin listener", () => {
  test("loopback is allowed by the default ranges", async () => {
    const url = start(["127.0.0.0/8", "::1/128"]);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect((await fetch(`${url}/status`)).status).toBe(200);
  });

  test("a source outside [admin] allow gets 403 on every path and method, with nothing about the node", async () => {
    const url = start(["198.18.0.0/15"]);
    for (const [path, method] of [["/status", "GET"], ["/metrics", "GET"], ["/", "GET"], ["/events", "GET"], ["/health", "HEAD"], ["/status", "POST"], ["/nope", "GET"]] as const) {
      const r = await fetch(`${url}${path}`, { method });
      expect(r.status).toBe(403);
      if (method !== "HEAD") expect(await r.text()).not.toContain('"node"');
    }
  });
});
