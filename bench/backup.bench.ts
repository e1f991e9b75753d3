/**
 * Backup benchmark: run with `npm run bench:backup` (as root; it sources scripts/test-postgres.sh).
 * BENCH_BACKUP_MB sets the database's size (default 1024).
 *
 * A sandbox VPS gets a database of about that size (random-ish text, so the custom format's
 * compression has work to do). The service runs as its own process (production wiring) so its
 * memory can be read from /proc. Figures: POST /backup-postgres-db wall time next to the same
 * `pg_dump -Fc` run on the VPS itself; GET /backups/:id/download of that file (read to the end,
 * checksum compared) next to `cat` of it over a plain SSH exec; the service's peak extra RSS.
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeStaleSandboxes, startSandboxVps } from "../tests/support/sandboxVps";
import { createTestDatabases, type TestDatabases } from "../tests/support/testDatabase";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../tests/support/tokens";
import { markdownTable, startBenchService, timeIt, writeBenchmarkSection } from "./support";

const SIZE_MB = Number(process.env.BENCH_BACKUP_MB ?? 1024);
const USER = 51;
const ROOT = join(import.meta.dir, "..");

const memoryKb = (pid: number, field: "VmRSS" | "VmHWM") => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN);

const startService = (dbs: TestDatabases) => startBenchService(dbs, { BACKUP_ANSWER_WITHIN_MS: "3600000" });

/** Runs `work` while sampling the process's RSS; returns its time and peak extra RSS (MiB). */
async function measured(pid: number, work: () => Promise<unknown>): Promise<{ ms: number; peakExtraMb: number }> {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
  const baseline = memoryKb(pid, "VmRSS");
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, memoryKb(pid, "VmRSS"));
  }, 5);
  try {
    const ms = await timeIt(work);
    return { ms, peakExtraMb: (Math.max(peak, memoryKb(pid, "VmHWM")) - baseline) / 1024 };
  } finally {
    clearInterval(sampler);
  }
}

if (!process.env.TEST_DATABASE_URL) throw new Error("run through scripts/bench.sh (TEST_DATABASE_URL)");
await removeStaleSandboxes();
const vps = await startSandboxVps({ postgres: "running" });
const dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
let service: Awaited<ReturnType<typeof startService>> | undefined;
try {
  const vpsId = await dbs.addMachine({ ip: vps.ip, ownerId: USER, rootPassword: vps.rootPassword });
  service = await startService(dbs);
  const auth = { authorization: `Bearer ${tokenFor(USER)}`, "content-type": "application/json" };
  const deployed = await fetch(`${service.url}/deploy-postgres`, { method: "POST", headers: auth, body: JSON.stringify({ vpsId, vpsIp: vps.ip, dbName: "bench_backup", userName: "bench_backup_user", password: "bench-backup-pw", dbType: "postgres" }) });
  if (deployed.status !== 200) throw new Error(`deploy failed: ${await deployed.text()}`);
  // ~1 KiB per row: 32 md5 texts of fresh random values (hex: the custom format compresses it about 2:1).
  const rows = SIZE_MB * 1024;
  // In chunks: one remote command may take at most 120 s (the sandbox's limit).
  const psql = "cd /tmp && sudo -u postgres psql -X -q -tA -v ON_ERROR_STOP=1 -d bench_backup";
  let fill = await vps.exec(psql, "CREATE TABLE filler (id bigint PRIMARY KEY, payload text);");
  const CHUNK = 32 * 1024;
  for (let from = 1; from <= rows && fill.exitCode === 0; from += CHUNK) {
    fill = await vps.exec(psql, `INSERT INTO filler SELECT g, (SELECT string_agg(md5(random()::text || i || g), '') FROM generate_series(1, 32) i) FROM generate_series(${from}, ${Math.min(rows, from + CHUNK - 1)}) g;`);
  }
  if (fill.exitCode === 0) fill = await vps.exec(psql, "SELECT pg_size_pretty(pg_database_size('bench_backup'));");
  if (fill.exitCode !== 0) throw new Error(`filling failed: ${fill.stderr}`);
  const dbSize = fill.stdout.trim().split("\n").at(-1)?.trim() ?? "?";

  const local = await timeIt(() => vps.exec("cd /tmp && sudo -u postgres pg_dump -Fc -d bench_backup > /root/local.dump"));
  await vps.exec("rm -f /root/local.dump");

  let answer: { message: string; backup: { id: number; sizeBytes: number; sha256: string } } | undefined;
  const backup = await measured(service.pid, async () => {
    const response = await fetch(`${service?.url}/backup-postgres-db`, { method: "POST", headers: auth, body: JSON.stringify({ vpsId, vpsIp: vps.ip, dbName: "bench_backup", userName: "bench_backup_user" }) });
    if (response.status !== 200) throw new Error(`backup failed: ${await response.text()}`);
    answer = (await response.json()) as typeof answer;
  });
  if (!answer) throw new Error("no backup");
  const { id, sizeBytes, sha256 } = answer.backup;
  const path = `/var/backups/zyotra/postgres/bench_backup/${(answer as unknown as { backup: { fileName: string } }).backup.fileName}`;

  let received = 0;
  const hash = createHash("sha256");
  const download = await measured(service.pid, async () => {
    const response = await fetch(`${service?.url}/backups/${id}/download`, { headers: auth });
    if (response.status !== 200) throw new Error(`download failed: ${response.status}`);
    const reader = response.body?.getReader();
    for (let next = await reader?.read(); next && !next.done; next = await reader?.read()) {
      received += next.value.byteLength;
      hash.update(next.value);
    }
  });
  if (received !== sizeBytes || hash.digest("hex") !== sha256) throw new Error("downloaded file differs");
  const plainCat = await timeIt(() => vps.exec(`cat ${path} > /dev/null`));

  const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
  const table = markdownTable(
    ["figure", "service", "reference (same run)", "ratio", "service peak extra RSS"],
    [
      [`backup (database ${dbSize}, dump ${mb(sizeBytes)} MiB), s`, (backup.ms / 1000).toFixed(1), `pg_dump -Fc on the VPS: ${(local / 1000).toFixed(1)}`, (backup.ms / local).toFixed(2), `${backup.peakExtraMb.toFixed(0)} MiB`],
      [`download of that file, s (${((sizeBytes / 1024 / 1024) / (download.ms / 1000)).toFixed(0)} MiB/s)`, (download.ms / 1000).toFixed(1), `cat on the VPS to /dev/null: ${(plainCat / 1000).toFixed(1)}`, "", `${download.peakExtraMb.toFixed(0)} MiB`],
    ],
  );
  writeBenchmarkSection(
    "backup",
    `## Backups (\`npm run bench:backup\`)

Measured ${new Date().toISOString().slice(0, 10)} on the project's machine kind (2 cores, shared with other work during the run),
Bun ${Bun.version}; the VPS a network namespace on a veth pair, PostgreSQL from the host's packages. The service runs in its
own process with the production wiring; "peak extra RSS" is its VmHWM (reset through /proc/PID/clear_refs) and 5 ms RSS
samples, minus its RSS before the request. The backup includes the SHA-256 of the file on the VPS (one more read of it);
the download is checked on the VPS (a full read) and hashed again while it streams through the service.

${table}`,
    join(ROOT, "BENCHMARKS.md"),
  );
  console.log(table);
} finally {
  await service?.stop();
  await dbs.dropAll();
  await vps.stop();
}
