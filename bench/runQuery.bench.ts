/**
 * SQL editor benchmark: run with `npm run bench:query` (as root; it sources scripts/test-postgres.sh).
 *
 * A sandbox VPS with a deployed database; the service in-process with the production SSH pool.
 * Warm: `select 1` through POST /run-query, the pooled pg session reused (the default). Cold: a
 * new service instance each time (new SSH connection, cluster lookup, pg login). Reference: the
 * same `select 1` from this host straight to the VPS's PostgreSQL over TCP on an open connection.
 */
import { join } from "node:path";
import { connectAs } from "../tests/support/remoteDb";
import { removeStaleSandboxes, startSandboxVps } from "../tests/support/sandboxVps";
import { startTestApp } from "../tests/support/testApp";
import { createTestDatabases } from "../tests/support/testDatabase";
import { TEST_ENCRYPTION_KEY } from "../tests/support/tokens";
import { markdownTable, percentile, timeIt, writeBenchmarkSection } from "./support";

const USER = 41;
const WARM = 200;
const COLD = 10;
const ROOT = join(import.meta.dir, "..");

if (!process.env.TEST_DATABASE_URL) throw new Error("run through scripts/bench.sh (TEST_DATABASE_URL)");
await removeStaleSandboxes();
const vps = await startSandboxVps({ postgres: "running" });
const dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
try {
  const vpsId = await dbs.addMachine({ ip: vps.ip, ownerId: USER, rootPassword: vps.rootPassword });
  const setup = startTestApp({ store: dbs.store, registry: dbs.registry });
  const deployed = await setup.request("POST", "/deploy-postgres", { userId: USER, body: { vpsId, vpsIp: vps.ip, dbName: "bench_sql", userName: "bench_sql_user", password: "bench-sql-pw", dbType: "postgres" } });
  if (deployed.status !== 200) throw new Error(`deploy failed: ${JSON.stringify(deployed.body)}`);
  const body = { databaseName: "bench_sql", vpsId, vpsIp: vps.ip, username: "bench_sql_user", query: "select 1" };
  const run = async (app: typeof setup) => {
    const answer = await app.request("POST", "/run-query", { userId: USER, body });
    if (answer.status !== 200) throw new Error(`run-query failed: ${JSON.stringify(answer.body)}`);
  };

  for (let i = 0; i < 20; i++) await run(setup);
  const warm: number[] = [];
  for (let i = 0; i < WARM; i++) warm.push(await timeIt(() => run(setup)));
  await setup.stop();

  const cold: number[] = [];
  for (let i = 0; i < COLD; i++) {
    const fresh = startTestApp({ store: dbs.store, registry: dbs.registry });
    cold.push(await timeIt(() => run(fresh)));
    await fresh.stop();
  }

  const direct = await connectAs(vps.ip, "bench_sql_user", "bench-sql-pw", "bench_sql");
  for (let i = 0; i < 20; i++) await direct.query("select 1");
  const reference: number[] = [];
  for (let i = 0; i < WARM; i++) reference.push(await timeIt(() => direct.query("select 1")));
  await direct.end();

  const ms = (samples: number[]) => `${percentile(samples, 50).toFixed(1)} / ${percentile(samples, 95).toFixed(1)}`;
  const table = markdownTable(
    ["figure", "p50 / p95, ms", "target"],
    [
      ["POST /run-query `select 1`, warm (pooled session)", ms(warm), "p50 ≤ 10 ms"],
      ["POST /run-query `select 1`, cold (new SSH connection, cluster lookup, login)", ms(cold), ""],
      ["reference: `select 1` straight over TCP, open connection", ms(reference), ""],
    ],
  );
  const when = new Date().toISOString().slice(0, 10);
  writeBenchmarkSection(
    "run-query",
    `## SQL editor (\`npm run bench:query\`)

Measured ${when} on the project's machine kind (2 cores, shared), Bun ${Bun.version}, service in-process with the
production SSH pool, the VPS a network namespace on a veth pair. Sequential requests: ${WARM} warm, ${COLD} cold (a new
service instance each). Each request includes the token check, the machine check (registry query), the database
lookup (metadata query); no audit rows are written here (the service writes one per run).

${table}`,
    join(ROOT, "BENCHMARKS.md"),
  );
  console.log(table);
} finally {
  await dbs.dropAll();
  await vps.stop();
}
