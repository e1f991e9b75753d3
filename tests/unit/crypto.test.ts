import { describe, expect, test } from "bun:test";
import CryptoJS from "crypto-js";
import { decryptMachineSecret, encryptMachineSecret } from "../../src/crypto/machineSecret";
import { createSecretBox } from "../../src/crypto/secretBox";
import { MachineCredentialsError } from "../../src/errors/appErrors";

describe("machine secrets (deployment manager format)", () => {
  test("reads what CryptoJS passphrase mode writes", () => {
    const cipher = CryptoJS.AES.encrypt("r00t'pw", "the-key").toString();
    expect(cipher.startsWith("U2FsdGVkX1")).toBe(true);
    expect(decryptMachineSecret(cipher, "the-key")).toBe("r00t'pw");
    expect(encryptMachineSecret("x", "k").startsWith("U2FsdGVkX1")).toBe(true);
  });

  test("a wrong key, garbage or an empty secret is a clear error, never an empty password", () => {
    const cipher = encryptMachineSecret("secret", "right-key");
    let wrongKeyFailures = 0;
    // A wrong key occasionally decrypts to valid-looking UTF-8; it must never silently pass as the secret.
    for (let i = 0; i < 20; i++) {
      try {
        expect(decryptMachineSecret(encryptMachineSecret("secret", "right-key"), "wrong-key")).not.toBe("secret");
      } catch (error) {
        expect(error).toBeInstanceOf(MachineCredentialsError);
        wrongKeyFailures++;
      }
    }
    expect(wrongKeyFailures).toBeGreaterThan(10);
    expect(() => decryptMachineSecret("not-a-cipher", "right-key")).toThrow(MachineCredentialsError);
    expect(() => decryptMachineSecret(encryptMachineSecret("", "right-key"), "right-key")).toThrow(MachineCredentialsError);
    expect(decryptMachineSecret(cipher, "right-key")).toBe("secret");
  });
});

describe("secret box (deployed database passwords at rest)", () => {
  const box = createSecretBox("an-encryption-key-for-tests");

  test("round-trips any string and never stores the plaintext", () => {
    const password = `qu'ote"s $ \\ ünï✓\n`;
    const sealed = box.seal(password);
    expect(sealed.startsWith("enc:v1:")).toBe(true);
    expect(sealed).not.toContain("qu'ote");
    expect(box.isSealed(sealed)).toBe(true);
    expect(box.open(sealed)).toBe(password);
    expect(box.seal(password)).not.toBe(sealed);
  });

  test("detects tampering and wrong keys", () => {
    const sealed = box.seal("secret");
    const raw = Buffer.from(sealed.slice(7), "base64");
    raw[raw.length - 1] = (raw[raw.length - 1] ?? 0) ^ 1;
    expect(() => box.open("enc:v1:" + raw.toString("base64"))).toThrow();
    expect(() => createSecretBox("another-key-entirely").open(sealed)).toThrow();
  });

  test("plaintext legacy values are not mistaken for sealed ones", () => {
    expect(box.isSealed("hunter2")).toBe(false);
    expect(box.isSealed("enc:v1:not base64!")).toBe(false);
  });
});

describe("secret box open cache", () => {
  test("a remembered value is the same plaintext; tampering is still detected for values never opened", () => {
    const cached = createSecretBox("an-encryption-key-for-tests", 2);
    const sealed = cached.seal("pw");
    expect(cached.open(sealed)).toBe("pw");
    expect(cached.open(sealed)).toBe("pw");
    const raw = Buffer.from(sealed.slice(7), "base64");
    raw[raw.length - 1] = (raw[raw.length - 1] ?? 0) ^ 1;
    expect(() => cached.open("enc:v1:" + raw.toString("base64"))).toThrow();
  });
});
