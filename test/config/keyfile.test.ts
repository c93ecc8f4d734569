import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, parseConfig } from "../../src/config/index.ts";
import { diffConfig } from "../../src/config/reload.ts";

const dir = mkdtempSync(join(tmpdir(), "cc-keyfile-"));
const cfg = (cluster: string) => `[cluster]\n${cluster}\n[[backends]]\naddress = "127.0.0.1:1"\n`;

function issues(text: string): string[] {
  try {
    parseConfig(text);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

describe("cluster.shared_key_file", () => {
  test("the key is read from the file, without its final newline", () => {
    const f = join(dir, "key");
    writeFileSync(f, "base64:AAECAwQFBgcICQoLDA0ODw==\n");
    const c = parseConfig(cfg(`shared_key_file = "${f}"`));
    expect(c.cluster.sharedKey).toBe("base64:AAECAwQFBgcICQoLDA0ODw==");
    expect(c.cluster.sharedKeyFile).toBe(f);
  });

  test("a rotated file is a key change on reload", () => {
    const f = join(dir, "rotated");
    writeFileSync(f, "old key");
    const before = parseConfig(cfg(`shared_key_file = "${f}"`));
    writeFileSync(f, "new key");
    expect(diffConfig(before, parseConfig(cfg(`shared_key_file = "${f}"`))).keyring).toEqual(["cluster.shared_key"]);
  });

  test("missing, empty, or set together with shared_key: an error naming the key", () => {
    expect(issues(cfg(`shared_key_file = "${join(dir, "absent")}"`))).toEqual([expect.stringMatching(/^cluster\.shared_key_file: cannot read ".*absent": ENOENT$/)]);
    const empty = join(dir, "empty");
    writeFileSync(empty, "\n");
    expect(issues(cfg(`shared_key_file = "${empty}"`))).toEqual([`cluster.shared_key_file: "${empty}" is empty`]);
    expect(issues(cfg(`shared_key = "x"\nshared_key_file = "${empty}"`))).toEqual(["cluster.shared_key_file: set either shared_key or shared_key_file, not both"]);
  });
});
