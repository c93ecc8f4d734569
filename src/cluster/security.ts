// Keyring and AES-GCM as memberlist uses them (memberlist-wire.md §4).
// Blob: vsn u8 | nonce(12) | ciphertext‖tag(16). vsn 1 = no padding (what we send); vsn 0 = PKCS7
// padded (protocol 1, accepted). Encryption and decryption are synchronous (node:crypto) so the
// packet hot path has no awaits.

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { WireError } from "./messages.ts";

const NONCE_SIZE = 12;
const TAG_SIZE = 16;
/** Bytes added by encrypt() with vsn 1 (what Go 0.2.2 subtracts from its packet budget). */
export const ENCRYPT_OVERHEAD = 1 + NONCE_SIZE + TAG_SIZE; // 29
const BLOCK = 16;

/** Passphrase → key derivation: fixed so every node with the same passphrase derives the same key. */
const KDF_SALT = "clusterclub-memberlist-encryption";
const KDF_INFO = "AES-256-GCM-key";
const RAW_PREFIX = "base64:";

export type EncryptionVersion = 0 | 1;

/** A bad key or secret (configuration error, not a wire error). */
export class KeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyError";
  }
}

function cipherName(key: Uint8Array): "aes-128-gcm" | "aes-192-gcm" | "aes-256-gcm" {
  switch (key.length) {
    case 16:
      return "aes-128-gcm";
    case 24:
      return "aes-192-gcm";
    case 32:
      return "aes-256-gcm";
    default:
      throw new KeyError(`key must be 16, 24 or 32 bytes, got ${key.length}`);
  }
}

/** Size of an encrypted blob for a plaintext of `n` bytes. */
export function encryptedLength(vsn: EncryptionVersion, n: number): number {
  if (vsn === 1) return ENCRYPT_OVERHEAD + n;
  return ENCRYPT_OVERHEAD + n + (BLOCK - (n % BLOCK));
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Installed keys; the first is the primary (used to encrypt). Decryption tries every key.
 * Mutators mirror Go's keyring for key rotation: add a key everywhere, switch the primary, remove the old.
 */
export class Keyring {
  private list: Uint8Array[] = [];

  constructor(primary: Uint8Array, extra: Uint8Array[] = []) {
    this.addKey(primary);
    for (const k of extra) this.addKey(k);
  }

  /**
   * Builds a keyring from configured secrets: `base64:<16|24|32 bytes>` is used raw, any other
   * string is a passphrase turned into a 32-byte key by HKDF-SHA256.
   */
  static fromSecrets(primary: string, extra: string[] = []): Keyring {
    return new Keyring(
      secretToKey(primary),
      extra.map((s) => secretToKey(s)),
    );
  }

  get primaryKey(): Uint8Array {
    return this.list[0];
  }

  get keys(): readonly Uint8Array[] {
    return this.list;
  }

  /** Installs a key (no-op if present). The first key ever added is the primary. */
  addKey(key: Uint8Array): void {
    cipherName(key);
    if (this.list.some((k) => sameKey(k, key))) return;
    this.list.push(Uint8Array.from(key));
  }

  /** Replaces every key at once (config reload): `primary` encrypts from now on, all decrypt. */
  replace(primary: Uint8Array, extra: Uint8Array[] = []): void {
    for (const k of [primary, ...extra]) cipherName(k);
    const next: Uint8Array[] = [];
    for (const k of [primary, ...extra]) if (!next.some((x) => sameKey(x, k))) next.push(Uint8Array.from(k));
    this.list = next;
  }

  /** Makes an installed key the primary. */
  useKey(key: Uint8Array): void {
    const i = this.list.findIndex((k) => sameKey(k, key));
    if (i < 0) throw new KeyError("useKey: key is not installed");
    const [k] = this.list.splice(i, 1);
    this.list.unshift(k);
  }

  /** Removes a non-primary key. */
  removeKey(key: Uint8Array): void {
    const i = this.list.findIndex((k) => sameKey(k, key));
    if (i === 0) throw new KeyError("removeKey: cannot remove the primary key");
    if (i > 0) this.list.splice(i, 1);
  }

  /** Encrypts with the primary key. `ad` = associated data (TCP: the 5-byte 0A|len header). */
  encrypt(plain: Uint8Array, ad?: Uint8Array, vsn: EncryptionVersion = 1): Uint8Array {
    const key = this.list[0];
    const out = new Uint8Array(encryptedLength(vsn, plain.length));
    out[0] = vsn;
    const nonce = randomBytes(NONCE_SIZE);
    out.set(nonce, 1);
    let src = plain;
    if (vsn === 0) {
      const pad = BLOCK - (plain.length % BLOCK);
      src = new Uint8Array(plain.length + pad);
      src.set(plain);
      src.fill(pad, plain.length);
    }
    const c = createCipheriv(cipherName(key), key, nonce);
    if (ad && ad.length > 0) c.setAAD(ad);
    let o = 1 + NONCE_SIZE;
    const body = c.update(src);
    out.set(body, o);
    o += body.length;
    const tail = c.final();
    out.set(tail, o);
    o += tail.length;
    out.set(c.getAuthTag(), o);
    return out;
  }

  /**
   * Decrypts a blob with whichever installed key opens it.
   * Throws WireError("truncated") for a blob shorter than the version's overhead and
   * WireError("decrypt") for an unknown version, bad padding or when no key authenticates it.
   */
  decrypt(blob: Uint8Array, ad?: Uint8Array): Uint8Array {
    if (blob.length === 0) throw new WireError("truncated", "decrypt: empty payload");
    const vsn = blob[0];
    if (vsn > 1) throw new WireError("decrypt", `decrypt: unsupported encryption version ${vsn}`);
    const min = encryptedLength(vsn as EncryptionVersion, 0);
    if (blob.length < min) {
      throw new WireError("truncated", `decrypt: payload of ${blob.length} bytes is below the ${min}-byte minimum`);
    }
    const nonce = blob.subarray(1, 1 + NONCE_SIZE);
    const ct = blob.subarray(1 + NONCE_SIZE, blob.length - TAG_SIZE);
    const tag = blob.subarray(blob.length - TAG_SIZE);
    for (const key of this.list) {
      const plain = tryOpen(key, nonce, ct, tag, ad);
      if (!plain) continue;
      if (vsn === 1) return plain;
      const pad = plain.length > 0 ? plain[plain.length - 1] : 0;
      if (pad < 1 || pad > BLOCK || pad > plain.length) {
        throw new WireError("decrypt", "decrypt: invalid PKCS7 padding");
      }
      return plain.subarray(0, plain.length - pad);
    }
    throw new WireError("decrypt", `decrypt: none of ${this.list.length} installed keys could decrypt the message`);
  }
}

function tryOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  ct: Uint8Array,
  tag: Uint8Array,
  ad: Uint8Array | undefined,
): Uint8Array | null {
  try {
    const d = createDecipheriv(cipherName(key), key, nonce);
    if (ad && ad.length > 0) d.setAAD(ad);
    d.setAuthTag(tag);
    const body = d.update(ct);
    const tail = d.final(); // throws when the tag does not authenticate
    if (tail.length === 0) return new Uint8Array(body.buffer, body.byteOffset, body.length);
    const out = new Uint8Array(body.length + tail.length);
    out.set(body);
    out.set(tail, body.length);
    return out;
  } catch {
    return null;
  }
}

/** HKDF-SHA256(passphrase) → 32-byte key; deterministic across nodes. */
export function deriveKey(passphrase: string): Uint8Array {
  if (passphrase.length === 0) throw new KeyError("encryption passphrase is empty");
  return new Uint8Array(hkdfSync("sha256", passphrase, KDF_SALT, KDF_INFO, 32));
}

/** A configured secret → key: `base64:<16|24|32 bytes>` raw, anything else via deriveKey(). */
export function secretToKey(secret: string): Uint8Array {
  if (!secret.startsWith(RAW_PREFIX)) return deriveKey(secret);
  const b64 = secret.slice(RAW_PREFIX.length).trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
    throw new KeyError(`secret "${RAW_PREFIX}…" is not valid base64`);
  }
  const key = new Uint8Array(Buffer.from(b64, "base64"));
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
    throw new KeyError(`secret "${RAW_PREFIX}…" decodes to ${key.length} bytes; need 16, 24 or 32`);
  }
  return key;
}

/** A fresh random AES-256 key in the `base64:` secret form. */
export function keygen(): string {
  return RAW_PREFIX + Buffer.from(randomBytes(32)).toString("base64");
}
