/**
 * MySQL table data benchmark (rough, in-process): run as root with
 * `source scripts/test-postgres.sh && bun bench/mysqlTableData.bench.ts`.
 *
 * A sandbox VPS with the host's MariaDB gets a 200,000-row table of mixed types; each round
 * reads all rows through `/get-mysql-table-data` (CSV without limit; JSON as two pages of
 * 100,000) and, as the reference, the same rows with `mysql --batch` run on the VPS over SSH
 * (its output read by this process). Prints the best and median of 5 rounds and this process's
 * RSS growth (the service runs in-process here, so memory is indicative only).
 */
import { removeStaleSandboxes, startSandboxVps } from "../tests/support/sandboxVps";
import { startTestApp } from "../tests/support/testApp";
import { createTestDatabases } from "../tests/support/testDatabase";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../tests/support/tokens";
import { SSHClient } from "../src/ssh/SSHClient";

const ROUNDS = 5;
const OWNER = 31;

async function timed(work: () => Promise<number>): Promise<{ ms: number; bytes: number }> {
  const started = performance.now();
  const bytes = await work();
  return { ms: performance.now() - started, bytes };
}

const stats = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { best: Math.round(sorted[0] ?? 0), median: Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0) };
};

await removeStaleSandboxes();
const vps = await startSandboxVps({ postgres: "absent", mysql: "running", systemd: true });
const dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
try {
  await vps.exec(`mysql -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('bench-root')"`);
  const machineId = await dbs.addMachine({ ip: vps.ip, ownerId: OWNER, rootPassword: vps.rootPassword });
  const app = startTestApp({ store: dbs.store, registry: dbs.registry });
  const body = { vpsId: machineId, vpsIp: vps.ip, dbName: "bench", userName: "bench_user", password: "bench-pw", rootPassword: "bench-root", dbType: "mysql" };
  const deployed = await app.request("POST", "/deploy-mysql", { userId: OWNER, body });
  if (deployed.status !== 200) throw new Error(JSON.stringify(deployed.body));
  const setup = await vps.exec(
    "mysql bench",
    `CREATE TABLE r (id INT PRIMARY KEY, name VARCHAR(100), note TEXT, amount DECIMAL(12,2), ratio DOUBLE, flag TINYINT, at DATETIME, big BIGINT);
     SET SESSION max_recursive_iterations = 1000000;
     INSERT INTO r WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 200000)
       SELECT n, CONCAT('name "', n, '"'), IF(n % 7 = 0, NULL, CONCAT('line\\tone\\nline two ', n)), n / 3, n / 7, n % 2, '2026-01-02 03:04:05' + INTERVAL n SECOND, n * 1000000007 FROM s;`,
  );
  if (setup.exitCode !== 0) throw new Error(setup.stderr);

  const ssh = new SSHClient({ host: vps.ip, port: 22, username: "root", password: vps.rootPassword, connectTimeoutMs: 5_000 });
  await ssh.connect();
  const headers = { authorization: `Bearer ${tokenFor(OWNER)}`, "content-type": "application/json" };
  const where = { vpsId: machineId, vpsIp: vps.ip, databaseName: "bench", tableName: "r" };
  const read = async (fields: Record<string, unknown>) => {
    const response = await fetch(`${app.baseUrl}/get-mysql-table-data`, { method: "POST", headers, body: JSON.stringify({ ...where, ...fields }) });
    return (await response.arrayBuffer()).byteLength;
  };
  const runs: Record<string, number[]> = { batch: [], csv: [], json: [] };
  const sizes: Record<string, number> = {};
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  for (let round = 0; round < ROUNDS; round++) {
    const batch = await timed(async () => (await ssh.exec("mysql --batch bench -e 'SELECT * FROM r ORDER BY id'", { timeoutMs: 120_000 })).stdout.length);
    const csv = await timed(() => read({ format: "csv" }));
    const json = await timed(async () => (await read({ limit: 100_000 })) + (await read({ limit: 100_000, offset: 100_000 })));
    for (const [name, result] of [["batch", batch], ["csv", csv], ["json", json]] as const) {
      runs[name]?.push(result.ms);
      sizes[name] = result.bytes;
    }
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }
  const reference = stats(runs.batch ?? []);
  for (const name of ["batch", "csv", "json"]) {
    const s = stats(runs[name] ?? []);
    console.log(`${name}: best ${s.best} ms (${(s.best / reference.best).toFixed(2)}x), median ${s.median} ms (${(s.median / reference.median).toFixed(2)}x), ${((sizes[name] ?? 0) / 1e6).toFixed(1)} MB`);
  }
  console.log(`process RSS growth (service in-process): ${((rssPeak - rssBefore) / 1e6).toFixed(1)} MB`);
  ssh.close();
  await app.stop();
} finally {
  await dbs.dropAll();
  await vps.stop();
}
