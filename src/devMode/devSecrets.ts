import { randomBytes } from "node:crypto";
import { closeSync, constants, fstatSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../config/env";

export interface DevSecrets {
  ACCESS_TOKEN_SECRET: string;
  ENCRYPTION_KEY: string;
}

/**
 * Reads secrets.json through one descriptor opened without following links, so the file
 * checked is the file read. Anyone else who owns it or can read it can forge tokens and
 * decrypt root passwords: such a file is refused, never used.
 */
function readOwnSecretsFile(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if ((error as NodeJS.ErrnoException).code === "ELOOP") throw new ConfigError("DATA_DIR", `${file} is a symbolic link; refusing to use it`);
    throw error;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new ConfigError("DATA_DIR", `${file} is not a regular file; refusing to use it`);
    const uid = process.getuid?.();
    if (uid !== undefined && stat.uid !== uid) {
      throw new ConfigError("DATA_DIR", `${file} belongs to uid ${stat.uid}, not to this process (uid ${uid}); refusing to use it`);
    }
    if ((stat.mode & 0o077) !== 0) {
      throw new ConfigError("DATA_DIR", `${file} is accessible to other users (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600 on it`);
    }
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
}

/**
 * Zero-config mode only: secrets missing from the environment are generated once and kept
 * in the data directory (file mode 600, directory 700), so tokens and encrypted passwords
 * survive restarts.
 */
export function loadOrCreateDevSecrets(dataDir: string): { secrets: DevSecrets; created: boolean } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, "secrets.json");
  const existing = readOwnSecretsFile(file);
  if (existing !== undefined) {
    const parsed = JSON.parse(existing) as Partial<DevSecrets>;
    if (typeof parsed.ACCESS_TOKEN_SECRET === "string" && typeof parsed.ENCRYPTION_KEY === "string") {
      return { secrets: { ACCESS_TOKEN_SECRET: parsed.ACCESS_TOKEN_SECRET, ENCRYPTION_KEY: parsed.ENCRYPTION_KEY }, created: false };
    }
  }
  const secrets: DevSecrets = {
    ACCESS_TOKEN_SECRET: randomBytes(32).toString("base64url"),
    ENCRYPTION_KEY: randomBytes(32).toString("base64url"),
  };
  // Written whole under another name first: the service and a CLI starting together must end
  // up with the same secrets, and neither may read a half-written file.
  const draft = `${file}.new-${process.pid}`;
  writeFileSync(draft, JSON.stringify(secrets, null, 2) + "\n", { mode: 0o600 });
  try {
    if (existing !== undefined) renameSync(draft, file);
    else linkSync(draft, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return loadOrCreateDevSecrets(dataDir);
  } finally {
    rmSync(draft, { force: true });
  }
  return { secrets, created: true };
}
