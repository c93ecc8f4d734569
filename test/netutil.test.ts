import { describe, expect, test } from "bun:test";
import { bytesToIp, errorCode, errorCodeOrMessage, formatHostPort, idleTimeoutSeconds, ipToBytes, ipToBytes16 } from "../src/netutil.ts";

describe("netutil", () => {
  test("host:port puts IPv6 in brackets once, and nothing else", () => {
    expect(formatHostPort("10.0.0.1", 80)).toBe("10.0.0.1:80");
    expect(formatHostPort("example.com", 443)).toBe("example.com:443");
    expect(formatHostPort("::1", 7946)).toBe("[::1]:7946");
    expect(formatHostPort("fe80::1%eth0", 1)).toBe("[fe80::1%eth0]:1");
    expect(formatHostPort("[::1]", 7946)).toBe("[::1]:7946");
  });

  test("IP bytes: 4 or 16, or 16 always; IPv4-mapped prints as IPv4", () => {
    expect([...ipToBytes("10.1.2.3")!]).toEqual([10, 1, 2, 3]);
    expect([...ipToBytes16("10.1.2.3")!]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3]);
    expect(bytesToIp(ipToBytes("::ffff:10.0.0.1")!)).toBe("10.0.0.1");
    expect(bytesToIp(ipToBytes("fe80::1%eth0")!)).toBe("fe80::1");
    for (const ip of ["127.0.0.1", "::1", "fe80::1:2", "2001:db8::", "1:2:3:4:5:6:7:8", "::"]) expect(bytesToIp(ipToBytes(ip)!)).toBe(ip);
    expect(ipToBytes("example.com")).toBeUndefined();
    expect(bytesToIp(new Uint8Array(5))).toBeNull();
  });

  test("error codes", () => {
    const e = Object.assign(new Error("refused"), { code: "ECONNREFUSED" });
    expect(errorCode(e)).toBe("ECONNREFUSED");
    expect(errorCode(new Error("x"))).toBeUndefined();
    expect(errorCode({ code: 7 })).toBeUndefined();
    expect(errorCodeOrMessage(e)).toBe("ECONNREFUSED");
    expect(errorCodeOrMessage(new Error("boom"))).toBe("boom");
    expect(errorCodeOrMessage("text")).toBe("text");
  });

  test("idle timeouts round up to whole seconds and stop at Bun's 255", () => {
    expect(idleTimeoutSeconds(1000)).toBe(1);
    expect(idleTimeoutSeconds(1001)).toBe(2);
    expect(idleTimeoutSeconds(255_000)).toBe(255);
    expect(idleTimeoutSeconds(10 * 60_000)).toBe(255);
  });
});
