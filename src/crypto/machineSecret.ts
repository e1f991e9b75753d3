import CryptoJS from "crypto-js";
import { MachineCredentialsError } from "../errors/appErrors";

/**
 * The deployment manager stores machine passwords and SSH keys with
 * `CryptoJS.AES.encrypt(plain, ENCRYPTION_KEY).toString()` (passphrase mode,
 * OpenSSL "Salted__" format). We must read exactly that format.
 */
export function encryptMachineSecret(plain: string, encryptionKey: string): string {
  return CryptoJS.AES.encrypt(plain, encryptionKey).toString();
}

/** Throws MachineCredentialsError instead of ever returning an empty or garbled secret. */
export function decryptMachineSecret(cipherText: string, encryptionKey: string): string {
  let plain: string;
  try {
    plain = CryptoJS.AES.decrypt(cipherText, encryptionKey).toString(CryptoJS.enc.Utf8);
  } catch {
    // A wrong key usually yields bytes that are not UTF-8 and CryptoJS throws.
    throw new MachineCredentialsError();
  }
  if (plain === "") throw new MachineCredentialsError();
  return plain;
}
