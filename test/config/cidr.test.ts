import { describe, expect, test } from "bun:test";
import { cidrContains, parseCidr, type Cidr } from "../../src/config/cidr.ts";
import { ipToBytes16 } from "../../src/netutil.ts";
import { ConfigError, parseConfig } from "../../src/config/index.ts";

function range(text: string): Cidr {
  const r = parseCidr(text);
  if (typeof r === "string") throw new Error(r);
  return r;
}

describe("parseCidr / cidrContains", () => {
  test("IPv4 ranges match by prefix, including the IPv4-mapped form a dual-stack socket reports", () => {
    const lo = range("127.0.0.0/8");
    for (const a of ["127.0.0.1", "127.255.255.254", "::ffff:127.0.0.1"]) expect(cidrContains(lo, a)).toBe(true);
    for (const a of ["128.0.0.1", "126.255.255.255", "::1", "::127.0.0.1", "10.0.0.1"]) expect(cidrContains(lo, a)).toBe(false);
    const lab = range("198.18.0.0/15");
    expect(cidrContains(lab, "198.19.255.255")).toBe(true);
    expect(cidrContains(lab, "198.20.0.0")).toBe(false);
    expect(cidrContains(range("10.1.2.3"), "10.1.2.3")).toBe(true); // a bare address is one host
    expect(cidrContains(range("10.1.2.3"), "10.1.2.4")).toBe(false);
    expect(cidrContains(range("0.0.0.0/0"), "203.0.113.9")).toBe(true);
    expect(cidrContains(range("10.0.0.0/9"), "10.127.0.1")).toBe(true); // a prefix that ends mid-byte
    expect(cidrContains(range("10.0.0.0/9"), "10.128.0.1")).toBe(false);
  });

  test("IPv6 ranges, zones and embedded IPv4", () => {
    expect(cidrContains(range("::1/128"), "::1")).toBe(true);
    expect(cidrContains(range("::1/128"), "0:0:0:0:0:0:0:1")).toBe(true);
    expect(cidrContains(range("::1/128"), "::2")).toBe(false);
    expect(cidrContains(range("fd00::/8"), "fdab:1::7")).toBe(true);
    expect(cidrContains(range("fd00::/8"), "fe80::1%eth0")).toBe(false);
    expect(cidrContains(range("fe80::/10"), "fe80::1%eth0")).toBe(true);
    expect(cidrContains(range("::ffff:0:0/96"), "192.0.2.1")).toBe(true);
    expect(cidrContains(range("2001:db8::/32"), "2001:db8:ffff::1")).toBe(true);
    expect(cidrContains(range("2001:db8::/32"), "2001:db9::1")).toBe(false);
    expect(cidrContains(range("::/0"), "127.0.0.1")).toBe(true); // the v4-mapped space is inside ::/0
    expect(Array.from(ipToBytes16("1:2:3:4:5:6:7:8")!)).toEqual([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
  });

  test("an address that is not one never matches", () => {
    expect(cidrContains(range("0.0.0.0/0"), "unknown")).toBe(false);
    expect(cidrContains(range("::/0"), "")).toBe(false);
  });

  test("mistakes are named: not an address, prefix out of range, host bits set", () => {
    expect(parseCidr("localhost")).toContain("not an IP address");
    expect(parseCidr("10.0.0.0/33")).toContain("is not 0–32");
    expect(parseCidr("::/129")).toContain("is not 0–128");
    expect(parseCidr("10.0.0.0/")).toContain("prefix length");
    expect(parseCidr("10.0.0.0/8x")).toContain("prefix length");
    expect(parseCidr("10.1.2.3/8")).toBe('"10.1.2.3/8" has bits set after the /8 prefix; write the network address, e.g. "10.0.0.0/8"');
    expect(parseCidr("fd00::1/8")).toContain('"fd00::/8"');
  });
});

describe("[admin] allow in the config", () => {
  const base = '[[backends]]\naddress = "127.0.0.1:3000"\n';

  test("defaults to loopback only", () => {
    expect(parseConfig(base).admin.allow).toEqual(["127.0.0.0/8", "::1/128"]);
  });

  test("accepts ranges and bare addresses as written", () => {
    expect(parseConfig(`[admin]\nallow = ["198.18.0.0/15", "::1", "10.0.0.7"]\n${base}`).admin.allow).toEqual(["198.18.0.0/15", "::1", "10.0.0.7"]);
  });

  test("every bad entry is reported with its key path", () => {
    let err: ConfigError | undefined;
    try {
      parseConfig(`[admin]\nallow = ["127.0.0.0/8", "10.0.0.1/8", 7, "lan"]\n${base}`);
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.issues.map((i) => i.path)).toEqual(["admin.allow[1]", "admin.allow[2]", "admin.allow[3]"]);
    expect(err!.issues[0]!.message).toContain('"10.0.0.0/8"');
    expect(() => parseConfig(`[admin]\nallow = "127.0.0.0/8"\n${base}`)).toThrow("admin.allow: expected an array of CIDR ranges");
  });
});
