import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/index.ts";
import { configWarnings, PLACEHOLDER_KEY } from "../../src/config/warnings.ts";

const warn = (cluster: string, proxy = "") => configWarnings(parseConfig(`[cluster]\n${cluster}\n[proxy]\n${proxy}\n[[backends]]\naddress = "127.0.0.1:1"\n`));

describe("config warnings", () => {
  test("the example's placeholder key", () => {
    const w = warn(`shared_key = "${PLACEHOLDER_KEY}"\nbind_address = "127.0.0.1"`, `bind_address = "127.0.0.1"`);
    expect(w.map((i) => i.path)).toEqual(["cluster.shared_key"]);
    expect(w[0]!.message).toContain("placeholder");
    expect(w[0]!.message).toContain("clusterclub keygen");
  });

  test("no key while gossip or the proxy binds a public address", () => {
    expect(warn("")[0]!.message).toContain("is not set while gossip binds 0.0.0.0");
    expect(warn(`bind_address = "127.0.0.1"`)[0]!.message).toContain("is not set while the proxy serves 0.0.0.0");
    expect(warn(`bind_address = "::1"`, `bind_address = "198.18.0.10"`)[0]!.message).toContain("proxy serves 198.18.0.10");
  });

  test("nothing to say with a real key, or with everything on loopback", () => {
    expect(warn(`shared_key = "a long passphrase"`)).toEqual([]);
    expect(warn(`bind_address = "127.0.0.1"`, `bind_address = "127.0.0.1"`)).toEqual([]);
  });
});
