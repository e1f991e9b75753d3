import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface DevSecrets {
  ACCESS_TOKEN_SECRET: string;
  ENCRYPTION_KEY: string;
}

/**
 * Zero-config mode only: secrets missing from the environment are generated once and kept
 * in the data directory (mode 600), so tokens and encrypted passwords survive restarts.
 */
export function loadOrCreateDevSecrets(dataDir: string): { secrets: DevSecrets; created: boolean } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, "secrets.json");
  if (existsSync(file)) {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<DevSecrets>;
    if (typeof parsed.ACCESS_TOKEN_SECRET === "string" && typeof parsed.ENCRYPTION_KEY === "string") {
      return { secrets: { ACCESS_TOKEN_SECRET: parsed.ACCESS_TOKEN_SECRET, ENCRYPTION_KEY: parsed.ENCRYPTION_KEY }, created: false };
    }
  }
  const secrets: DevSecrets = {
    ACCESS_TOKEN_SECRET: randomBytes(32).toString("base64url"),
    ENCRYPTION_KEY: randomBytes(32).toString("base64url"),
  };
  writeFileSync(file, JSON.stringify(secrets, null, 2) + "\n", { mode: 0o600 });
  return { secrets, created: true };
}
