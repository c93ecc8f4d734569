import { describe, expect, test } from "bun:test";
import {
  ENCRYPT_OVERHEAD,
  KeyError,
  Keyring,
  deriveKey,
  encryptedLength,
  keygen,
  secretToKey,
} from "../../src/cluster/security.ts";
import { WireError } from "../../src/cluster/messages.ts";
import { reasonOf } from "./helpers.ts";

const unhex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const seqKey = (n: number) => Uint8Array.from({ length: n }, (_, i) => i);

// Sealed by Go crypto/cipher GCM with key 00 01 02 …, nonce 00..0b, in memberlist's blob layout.
const GO_BLOBS = {
  k16v1: "01000102030405060708090a0bfb09cba2093b9a3126b004f85aca037c2e2293bd6028ba2cdc938804f5613db3",
  k16v0: "00000102030405060708090a0bfb09cba20910fc5f40d96a813da87b0397da7a72f1a170b766cc44d4077a0279",
  k16ad: "01000102030405060708090a0bfb09cba2093b9a3126b004f85aca037c5076affe30298690d88d9d78feddca5e",
  k32v1: "01000102030405060708090a0b2f67ba77aac5af7ee023f2f9dd800b194babfa504c99af2124f9ef6658b2ca8b",
  k32v0: "00000102030405060708090a0b2f67ba77aaeec910864a9c80bae273668fc51930d4529819042a9d0ad28a7a8c",
  k32ad: "01000102030405060708090a0b2f67ba77aac5af7ee023f2f9dd800b195b3c6f8b2187eb0383ffef042aa56bf0",
};
const GO_AD = new Uint8Array([10, 0, 0, 0, 45]);

describe("Keyring", () => {
  test("decrypts Go-produced blobs: vsn 1, vsn 0 (PKCS7) and with associated data", () => {
    for (const n of [16, 32] as const) {
      const ring = new Keyring(seqKey(n));
      const g = n === 16 ? ["k16v1", "k16v0", "k16ad"] : ["k32v1", "k32v0", "k32ad"];
      expect(text(ring.decrypt(unhex(GO_BLOBS[g[0] as keyof typeof GO_BLOBS])))).toBe("hello memberlist");
      expect(text(ring.decrypt(unhex(GO_BLOBS[g[1] as keyof typeof GO_BLOBS])))).toBe("hello");
      expect(text(ring.decrypt(unhex(GO_BLOBS[g[2] as keyof typeof GO_BLOBS]), GO_AD))).toBe("hello memberlist");
      // Associated data is authenticated: missing or different AD fails.
      expect(reasonOf(() => ring.decrypt(unhex(GO_BLOBS[g[2] as keyof typeof GO_BLOBS])))).toBe("decrypt");
      expect(reasonOf(() => ring.decrypt(unhex(GO_BLOBS[g[0] as keyof typeof GO_BLOBS]), GO_AD))).toBe("decrypt");
    }
  });

  test("round-trips with every key size and both versions", () => {
    for (const n of [16, 24, 32]) {
      const ring = new Keyring(seqKey(n));
      for (const vsn of [0, 1] as const) {
        for (const len of [0, 1, 15, 16, 17, 1400]) {
          const plain = Uint8Array.from({ length: len }, (_, i) => i * 7);
          const blob = ring.encrypt(plain, undefined, vsn);
          expect(blob[0]).toBe(vsn);
          expect(blob.length).toBe(encryptedLength(vsn, len));
          expect(ring.decrypt(blob)).toEqual(plain);
        }
      }
    }
    expect(encryptedLength(1, 100)).toBe(100 + ENCRYPT_OVERHEAD);
    expect(encryptedLength(0, 16)).toBe(16 + 16 + ENCRYPT_OVERHEAD);
  });

  test("fresh nonce per message", () => {
    const ring = new Keyring(seqKey(32));
    const a = ring.encrypt(new Uint8Array(8));
    const b = ring.encrypt(new Uint8Array(8));
    expect(a.subarray(1, 13)).not.toEqual(b.subarray(1, 13));
  });

  test("wrong key, tampered tag or body, bad version, short blob", () => {
    const ring = new Keyring(seqKey(32));
    const other = new Keyring(seqKey(16));
    const blob = ring.encrypt(new TextEncoder().encode("secret"));
    expect(reasonOf(() => other.decrypt(blob))).toBe("decrypt");
    for (const idx of [blob.length - 1, 14, 5]) {
      const t = blob.slice();
      t[idx] ^= 1;
      expect(reasonOf(() => ring.decrypt(t))).toBe("decrypt");
    }
    const v2 = blob.slice();
    v2[0] = 2;
    expect(reasonOf(() => ring.decrypt(v2))).toBe("decrypt");
    expect(reasonOf(() => ring.decrypt(blob.subarray(0, 28)))).toBe("truncated");
    expect(reasonOf(() => ring.decrypt(new Uint8Array(0)))).toBe("truncated");
    // vsn 0 needs room for at least one padding block
    const v0 = new Uint8Array(29 + 15);
    expect(reasonOf(() => ring.decrypt(v0))).toBe("truncated");
  });

  test("decrypt tries every installed key; encrypt uses the primary", () => {
    const oldKey = seqKey(32);
    const newKey = seqKey(24);
    const oldRing = new Keyring(oldKey);
    const ring = new Keyring(newKey, [oldKey]);
    const fromOld = oldRing.encrypt(new Uint8Array([1, 2, 3]));
    expect(ring.decrypt(fromOld)).toEqual(new Uint8Array([1, 2, 3]));
    const fromNew = ring.encrypt(new Uint8Array([4]));
    expect(reasonOf(() => oldRing.decrypt(fromNew))).toBe("decrypt");

    // rotation: install new everywhere, switch primary, remove old
    oldRing.addKey(newKey);
    expect(oldRing.decrypt(fromNew)).toEqual(new Uint8Array([4]));
    oldRing.useKey(newKey);
    expect(oldRing.primaryKey).toEqual(newKey);
    oldRing.removeKey(oldKey);
    expect(oldRing.keys.length).toBe(1);
    expect(() => oldRing.removeKey(newKey)).toThrow(KeyError);
    expect(() => oldRing.useKey(oldKey)).toThrow(KeyError);
  });

  test("rejects keys of the wrong size", () => {
    expect(() => new Keyring(new Uint8Array(20))).toThrow(KeyError);
    expect(() => new Keyring(seqKey(32), [new Uint8Array(8)])).toThrow(KeyError);
  });
});

describe("secrets", () => {
  test("base64: secrets are used raw", () => {
    const key = seqKey(16);
    expect(secretToKey("base64:" + Buffer.from(key).toString("base64"))).toEqual(key);
    expect(() => secretToKey("base64:" + Buffer.from(seqKey(20)).toString("base64"))).toThrow(KeyError);
    expect(() => secretToKey("base64:not base64!")).toThrow(KeyError);
  });

  test("passphrases derive a deterministic 32-byte key (HKDF-SHA256)", () => {
    const a = deriveKey("correct horse");
    expect(a.length).toBe(32);
    expect(deriveKey("correct horse")).toEqual(a);
    expect(deriveKey("correct horsf")).not.toEqual(a);
    // Pinned (computed independently with Python hmac/hashlib) so a change of salt/info — which
    // would split a cluster across versions — cannot go unnoticed.
    expect(Buffer.from(a).toString("hex")).toBe("148aaefe64b393f27bcc9e514a131223759ecca0c3ff309e97dfa55d7045a749");
    expect(() => deriveKey("")).toThrow(KeyError);
  });

  test("two nodes with the same passphrase interoperate", () => {
    const n1 = Keyring.fromSecrets("shared passphrase");
    const n2 = Keyring.fromSecrets("shared passphrase", ["base64:" + Buffer.from(seqKey(32)).toString("base64")]);
    expect(n2.keys.length).toBe(2);
    expect(n2.decrypt(n1.encrypt(new Uint8Array([9])))).toEqual(new Uint8Array([9]));
  });

  test("keygen gives a fresh base64 AES-256 secret that fromSecrets accepts", () => {
    const s = keygen();
    expect(s.startsWith("base64:")).toBe(true);
    expect(secretToKey(s).length).toBe(32);
    expect(keygen()).not.toBe(s);
    expect(Keyring.fromSecrets(s).primaryKey).toEqual(secretToKey(s));
  });
});
