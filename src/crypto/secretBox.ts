import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/**
 * Authenticated encryption (AES-256-GCM) for secrets we keep at rest, such as the
 * passwords of deployed databases. Format: `enc:v1:<base64(iv | tag | ciphertext)>`;
 * the version prefix lets a later key or algorithm coexist with old rows.
 */
const PREFIX = "enc:v1:";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const AAD = Buffer.from("zyotra-storage-layer/deployed_db.password");

export class SecretBoxError extends Error {}

export interface SecretBox {
  seal(plain: string): string;
  open(sealed: string): string;
  isSealed(value: string): boolean;
}

/**
 * `openCacheSize` > 0 remembers that many opened values: `GET /get-db` opens every row's
 * password on every poll, and one AES-GCM decryption costs more than the rest of the request.
 * Those plaintexts are served to their owner on each poll anyway; the cache is bounded.
 */
export function createSecretBox(encryptionKey: string, openCacheSize = 0): SecretBox {
  // Derive a dedicated key so the same ENCRYPTION_KEY never serves two algorithms directly.
  const key = Buffer.from(hkdfSync("sha256", encryptionKey, "zyotra-storage-layer", "deployed_db.password v1", 32));
  const opened = new Map<string, string>();

  return {
    seal(plain) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      cipher.setAAD(AAD);
      const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
      return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64");
    },
    open(sealed) {
      const remembered = opened.get(sealed);
      if (remembered !== undefined) return remembered;
      if (!sealed.startsWith(PREFIX)) throw new SecretBoxError("not a sealed value");
      const raw = Buffer.from(sealed.slice(PREFIX.length), "base64");
      if (raw.length < IV_BYTES + TAG_BYTES) throw new SecretBoxError("sealed value is truncated");
      const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(AAD);
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      let plain: string;
      try {
        plain = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
      } catch {
        throw new SecretBoxError("sealed value failed authentication (wrong key or tampered)");
      }
      if (openCacheSize > 0) {
        if (opened.size >= openCacheSize) opened.delete(opened.keys().next().value ?? "");
        opened.set(sealed, plain);
      }
      return plain;
    },
    isSealed(value) {
      return value.startsWith(PREFIX) && /^[A-Za-z0-9+/]+=*$/.test(value.slice(PREFIX.length));
    },
  };
}
