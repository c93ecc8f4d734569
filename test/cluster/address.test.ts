import { describe, expect, test } from "bun:test";
import { isIP } from "node:net";
import { AddressError, chooseAdvertiseAddress, parseSeed, resolveSeed } from "../../src/cluster/address.ts";

describe("seeds", () => {
  test("host:port, [v6]:port, bare v6, bare host", () => {
    expect(parseSeed("10.0.0.1:7946", 1)).toEqual({ host: "10.0.0.1", port: 7946 });
    expect(parseSeed("node-a.example:8000", 1)).toEqual({ host: "node-a.example", port: 8000 });
    expect(parseSeed("[::1]:9000", 1)).toEqual({ host: "::1", port: 9000 });
    expect(parseSeed("fe80::2", 7946)).toEqual({ host: "fe80::2", port: 7946 });
    expect(parseSeed("node-b", 7946)).toEqual({ host: "node-b", port: 7946 });
  });

  test("bad seeds are typed errors", () => {
    for (const bad of ["", ":80", "a:0", "a:70000", "a:x", "[::1", "[::1]x"]) expect(() => parseSeed(bad, 1)).toThrow(AddressError);
  });

  test("a hostname resolves to its addresses; an IP to itself", async () => {
    expect(await resolveSeed("127.0.0.5:10", 1)).toEqual([{ host: "127.0.0.5", port: 10 }]);
    const local = await resolveSeed("localhost:99", 1);
    expect(local.length).toBeGreaterThan(0);
    for (const a of local) expect(["127.0.0.1", "::1"]).toContain(a.host);
  });
});

describe("advertise address", () => {
  test("explicit option, then a specific bind address, else an interface (never throws)", () => {
    expect(chooseAdvertiseAddress("0.0.0.0", "10.9.8.7")).toBe("10.9.8.7");
    expect(chooseAdvertiseAddress("127.0.0.3")).toBe("127.0.0.3");
    const auto = chooseAdvertiseAddress("0.0.0.0");
    expect(isIP(auto)).toBeGreaterThan(0);
    expect(() => chooseAdvertiseAddress("0.0.0.0", "not-an-ip")).toThrow(AddressError);
  });
});
