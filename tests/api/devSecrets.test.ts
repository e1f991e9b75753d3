import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateDevSecrets } from "../../src/devMode/devSecrets";

/** Zero-config secrets: created private, and a file others own or can read is never used. */
const ROOT = join(import.meta.dir, "..", "..");
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "zsl-secrets-"));
  dirs.push(dir);
  return dir;
};
const SECRETS = JSON.stringify({ ACCESS_TOKEN_SECRET: "a".repeat(43), ENCRYPTION_KEY: "b".repeat(43) });

/** The real entry point in zero-config mode; it must stop before opening the database. */
function startZeroConfig(dataDir: string) {
  const run = Bun.spawnSync(["bun", "src/index.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", DATA_DIR: dataDir, PORT: "1" },
    timeout: 30_000,
  });
  return { exitCode: run.exitCode, stderr: run.stderr.toString().trim() };
}

describe("zero-config secrets.json", () => {
  test("is created with mode 600 in a directory with mode 700", () => {
    const dataDir = join(freshDir(), "data");
    const { created, secrets } = loadOrCreateDevSecrets(dataDir);
    expect(created).toBe(true);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, "secrets.json")).mode & 0o777).toBe(0o600);
    expect(loadOrCreateDevSecrets(dataDir)).toEqual({ secrets, created: false });
  });

  test("a file readable by others stops the start with one line, and is left as it was", () => {
    const dataDir = freshDir();
    const file = join(dataDir, "secrets.json");
    writeFileSync(file, SECRETS);
    chmodSync(file, 0o644);
    const run = startZeroConfig(dataDir);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toBe(`Configuration error: DATA_DIR: ${file} is accessible to other users (mode 644); run chmod 600 on it`);
    expect(() => loadOrCreateDevSecrets(dataDir)).toThrow("accessible to other users");
    chmodSync(file, 0o640);
    expect(() => loadOrCreateDevSecrets(dataDir)).toThrow("mode 640");
    chmodSync(file, 0o600);
    expect(loadOrCreateDevSecrets(dataDir).created).toBe(false);
  });

  test("a file owned by another user stops the start with one line", () => {
    const dataDir = freshDir();
    const file = join(dataDir, "secrets.json");
    writeFileSync(file, SECRETS, { mode: 0o600 });
    const otherUid = (process.getuid?.() ?? 0) === 65534 ? 65533 : 65534;
    chownSync(file, otherUid, otherUid);
    const run = startZeroConfig(dataDir);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toBe(`Configuration error: DATA_DIR: ${file} belongs to uid ${otherUid}, not to this process (uid ${process.getuid?.()}); refusing to use it`);
  });

  test("a symbolic link is refused rather than followed", () => {
    const dataDir = freshDir();
    const target = join(freshDir(), "elsewhere.json");
    writeFileSync(target, SECRETS, { mode: 0o600 });
    symlinkSync(target, join(dataDir, "secrets.json"));
    expect(() => loadOrCreateDevSecrets(dataDir)).toThrow("is a symbolic link");
  });
});
