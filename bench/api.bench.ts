/**
 * Hot-path benchmark (issue 13): run with `npm run bench:api` (as root).
 * Builds sandbox VPS hosts and a real metadata database, starts the service in-process (with
 * the production row cache and a JSON logger whose lines are formatted, then dropped), and
 * measures each figure next to its reference in the same run: a bare Elysia app for `/health`,
 * pgbench running `GET /get-db`'s own SELECT, a bare command over an open SSH channel.
 *
 * `BENCH_QUICK=1` runs every part with tiny durations and counts and writes nothing: the CI
 * smoke test (tests/benchSmoke.test.ts) uses it to prove the benchmark still runs.
 */
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Elysia } from "elysia";
import { createSecretBox } from "../src/crypto/secretBox";
import { DEFAULT_LIST_CACHE_TTL_MS, withListCache } from "../src/metadata/listCache";
import { deployed_db } from "../src/metadata/schema";
import { createJsonLogger } from "../src/shared/logger";
import { SSHClient } from "../src/ssh/SSHClient";
import { createDirectLeases } from "../tests/support/directLeases";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "../tests/support/sandboxVps";
import { startTestApp, TEST_SSH } from "../tests/support/testApp";
import { createTestDatabases } from "../tests/support/testDatabase";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../tests/support/tokens";
import { markdownTable, percentile, timeIt, writeBenchmarkSection } from "./support";

const QUICK = process.env.BENCH_QUICK === "1";
const LOAD_SECONDS = QUICK ? 1 : 5;
/** Service and reference alternate this many times; the ratio is the median of the rounds' ratios. */
const ROUNDS = QUICK ? 1 : 3;
const CONCURRENCY = 32;
const GET_DB_SIZES = QUICK ? [10] : [10, 100, 1000];
const DEPLOYS = QUICK ? 2 : 9;
/** Databases already on the machine (and recorded for the caller) before further deploys; 1,000 would need ~7.5 GB of template copies. */
const DEPLOY_GROWTH = QUICK ? [10] : [10, 100];
const DEPLOYS_PER_GROWTH_STEP = QUICK ? 1 : 5;
const TABLES_WARM = QUICK ? 5 : 50;
const TABLES_COLD = QUICK ? 2 : 10;
const USER = 9;
const LIVENESS = { status: "success", message: "Storage Layer of Zyotra is running" } as const;

/** Asynchronous on purpose: the service under load runs in this very process. */
async function run(command: string[]): Promise<string> {
  const child = Bun.spawn(command, { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (exitCode !== 0) throw new Error(`${command[0]} failed: ${stderr}`);
  return stdout;
}

async function wrkRate(url: string, token?: string, seconds = LOAD_SECONDS): Promise<number> {
  const args = ["wrk", "-t2", `-c${CONCURRENCY}`, `-d${seconds}s`, url];
  if (token) args.splice(1, 0, "-H", `Authorization: Bearer ${token}`);
  const output = await run(args);
  if (/Non-2xx/.test(output)) throw new Error(`wrk saw errors:\n${output}`);
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1]);
}

const median = (values: number[]) => percentile(values, 50);

/** Alternates service and reference so that the machine's noise hits both alike. */
async function sideBySide(service: () => Promise<number>, reference: () => Promise<number>) {
  const services: number[] = [];
  const references: number[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const s = await service();
    const r = await reference();
    services.push(s);
    references.push(r);
    ratios.push(s / r);
  }
  return { service: median(services), reference: median(references), ratio: median(ratios), ratios };
}

/** N databases on the VPS's cluster, as a user would have them (each CREATE DATABASE on its own). */
async function createDatabasesOnVps(vps: SandboxVps, prefix: string, count: number): Promise<void> {
  const script = Array.from({ length: count }, (_, i) => `CREATE DATABASE ${prefix}_${i};`).join("\n");
  const result = await vps.exec("cd /tmp && sudo -u postgres psql -X -q -v ON_ERROR_STOP=1", script);
  if (result.exitCode !== 0) throw new Error(`creating ${count} databases failed: ${result.stderr}`);
}

await removeStaleSandboxes();
const vps = await startSandboxVps({ postgres: "running" });
const fresh = QUICK ? undefined : await startSandboxVps({ postgres: "absent" });
const dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
const store = withListCache(dbs.store, { ttlMs: DEFAULT_LIST_CACHE_TTL_MS });
const logger = createJsonLogger(() => undefined);
const app = startTestApp({ store, registry: dbs.registry, logger });
const coldApp = startTestApp({ store, registry: dbs.registry, logger, leases: createDirectLeases(TEST_SSH.connectTimeoutMs) });
const bare = new Elysia().get("/health", () => ({ ...LIVENESS, Timestamp: new Date().toISOString() })).listen({ port: 0, hostname: "127.0.0.1" });
const bareUrl = `http://127.0.0.1:${bare.server?.port}`;
const rows: string[][] = [];
const growth: string[][] = [];
let healthRatios: number[] = [];

try {
  const machineId = await dbs.addMachine({ ip: vps.ip, ownerId: USER, rootPassword: vps.rootPassword });
  const freshId = fresh ? await dbs.addMachine({ ip: fresh.ip, ownerId: USER, rootPassword: fresh.rootPassword }) : 0;

  // GET /health next to a bare Elysia app answering the same body (JIT warm-up first).
  await wrkRate(`${app.baseUrl}/health`, undefined, 1);
  await wrkRate(`${bareUrl}/health`, undefined, 1);
  const health = await sideBySide(
    () => wrkRate(`${app.baseUrl}/health`),
    () => wrkRate(`${bareUrl}/health`),
  );
  healthRatios = health.ratios;
  rows.push(["GET /health, req/s", health.service.toFixed(0), `bare Elysia app, same body: ${health.reference.toFixed(0)}`, health.ratio.toFixed(2), "≥ 0.9"]);

  // GET /get-db for users with 10, 100, 1,000 databases, each next to pgbench running its SELECT.
  const box = createSecretBox(TEST_ENCRYPTION_KEY);
  for (const size of GET_DB_SIZES) {
    const userId = 1_000 + size;
    await dbs.drizzleDb.insert(deployed_db).values(
      Array.from({ length: size }, (_, i) => ({
        dbName: `bench_${i}`,
        username: `bench_user_${i}`,
        password: box.seal(`password-${i}`),
        host: "198.51.100.1",
        dbType: "postgres",
        // Names are unique per machine: each user's rows on a machine of their own.
        vpsId: userId,
        userId,
        status: "running",
      })),
    );
    const token = tokenFor(userId, { expiresIn: "1h" });
    const script = join(tmpdir(), `zsl-bench-get-db-${size}.sql`);
    writeFileSync(script, `SELECT id, db_name, username, password, host, db_type, vps_id, user_id, status, created_at FROM deployed_db WHERE user_id = ${userId} ORDER BY id;\n`);
    const pgbench = async () => Number(/tps = ([\d.]+)/.exec(await run(["pgbench", "-n", "-c", String(CONCURRENCY), "-j", "2", "-T", String(LOAD_SECONDS), "-f", script, dbs.metadata.url]))?.[1]);
    await wrkRate(`${app.baseUrl}/get-db`, token, 1);
    const getDb = await sideBySide(() => wrkRate(`${app.baseUrl}/get-db`, token), pgbench);
    const figure = [`GET /get-db (${size} rows), req/s`, getDb.service.toFixed(0), `pgbench same SELECT: ${getDb.reference.toFixed(0)}`, getDb.ratio.toFixed(2), size === 10 ? "≥ 0.45" : ""];
    if (size === 10) rows.push(figure);
    growth.push([`get-db, user with ${size} databases`, `${getDb.service.toFixed(0)} req/s (${(1000 / getDb.service).toFixed(3)} ms each)`, `${getDb.reference.toFixed(0)} tps`, getDb.ratio.toFixed(2)]);
  }

  // POST /get-tables-list: warm (pooled connection) and cold (new connection each), vs a bare command.
  // A deployed database with a few tables, owned by its ordinary role as every browsed database is.
  const browsed = await app.request("POST", "/deploy-postgres", { userId: USER, body: { vpsId: machineId, vpsIp: vps.ip, dbName: "browse_bench", userName: "browse_bench_u", password: "bench-pass" } });
  if (browsed.status !== 200) throw new Error(`deploy for the tables list failed: ${JSON.stringify(browsed.body)}`);
  const tables = Array.from({ length: 10 }, (_, i) => `CREATE TABLE t_${i} (id integer PRIMARY KEY, v text);`).join("\n");
  const created = await vps.exec("cd /tmp && sudo -u postgres psql -X -q -v ON_ERROR_STOP=1 -d browse_bench", `SET ROLE browse_bench_u;\n${tables}\n`);
  if (created.exitCode !== 0) throw new Error(`creating the tables failed: ${created.stderr}`);
  const body = { databaseName: "browse_bench", vpsId: machineId, vpsIp: vps.ip };
  const list = async (target: typeof app) => {
    const response = await target.request("POST", "/get-tables-list", { userId: USER, body });
    if (response.status !== 200 || (response.body.data as unknown[]).length !== 10) throw new Error(`tables list failed: ${JSON.stringify(response.body)}`);
  };
  await list(app);
  const warm: number[] = [];
  for (let i = 0; i < TABLES_WARM; i++) warm.push(await timeIt(() => list(app)));
  const cold: number[] = [];
  for (let i = 0; i < TABLES_COLD; i++) cold.push(await timeIt(() => list(coldApp)));
  const ssh = new SSHClient({ host: vps.ip, port: 22, username: "root", password: vps.rootPassword, connectTimeoutMs: 5_000 });
  await ssh.connect();
  const bareCommand: number[] = [];
  for (let i = 0; i < 50; i++) bareCommand.push(await timeIt(() => ssh.exec("true", { timeoutMs: 5_000 })));
  ssh.close();
  const bareP50 = percentile(bareCommand, 50);
  rows.push(["tables list warm p50 / p95, ms", `${percentile(warm, 50).toFixed(1)} / ${percentile(warm, 95).toFixed(1)}`, `bare command p50: ${bareP50.toFixed(1)}`, (percentile(warm, 50) / bareP50).toFixed(1), "p50 ≤ 25 ms"]);
  rows.push(["tables list cold p50 / p95, ms", `${percentile(cold, 50).toFixed(1)} / ${percentile(cold, 95).toFixed(1)}`, `bare command p50: ${bareP50.toFixed(1)}`, (percentile(cold, 50) / bareP50).toFixed(1), ""]);

  // Deploys on a machine already set up (after a first deploy configured it).
  let deployed = 1; // browse_bench, above
  const deploy = async (name: string) => {
    const response = await app.request("POST", "/deploy-postgres", { userId: USER, body: { vpsId: machineId, vpsIp: vps.ip, dbName: name, userName: `${name}_u`, password: "bench-pass" } });
    if (response.status !== 200) throw new Error(`deploy failed: ${JSON.stringify(response.body)}`);
    deployed++;
  };
  await deploy("setup_warmup");
  const setUp: number[] = [];
  for (let i = 0; i < DEPLOYS; i++) setUp.push(await timeIt(() => deploy(`setup_${i}`)));
  rows.push(["deploy, machine already set up, p50 / max ms", `${percentile(setUp, 50).toFixed(0)} / ${Math.max(...setUp).toFixed(0)}`, `bare command p50: ${bareP50.toFixed(1)}`, (percentile(setUp, 50) / bareP50).toFixed(1), "p50 ≤ 300 ms"]);

  // The same, with 10, 100, 1,000 databases on the machine, each recorded for the caller.
  let existing = deployed;
  for (const size of DEPLOY_GROWTH) {
    const more = size - existing;
    if (more > 0) {
      await createDatabasesOnVps(vps, `grown_${size}`, more);
      await dbs.drizzleDb.insert(deployed_db).values(
        Array.from({ length: more }, (_, i) => ({
          dbName: `grown_${size}_${i}`,
          username: `grown_${size}_${i}_u`,
          password: box.seal("x"),
          host: vps.ip,
          dbType: "postgres",
          vpsId: machineId,
          userId: USER,
          status: "running",
        })),
      );
      existing += more;
    }
    const times: number[] = [];
    for (let i = 0; i < DEPLOYS_PER_GROWTH_STEP; i++) {
      times.push(await timeIt(() => deploy(`at_${size}_${i}`)));
      existing++;
    }
    growth.push([`deploy, machine with ${size} databases`, `p50 ${percentile(times, 50).toFixed(0)} ms (${times.length} deploys)`, "", ""]);
  }

  if (fresh) {
    const freshTime = await timeIt(async () => {
      const response = await app.request("POST", "/deploy-postgres", { userId: USER, body: { vpsId: freshId, vpsIp: fresh.ip, dbName: "fresh_0", userName: "fresh_0_u", password: "bench-pass" } });
      if (response.status !== 200) throw new Error(`fresh deploy failed: ${JSON.stringify(response.body)}`);
    });
    rows.push(["deploy, fresh machine (install path), ms", freshTime.toFixed(0), "(stand-in apt-get, real cluster creation)", "", ""]);
  }
} finally {
  await bare.stop(true);
  await app.stop();
  await coldApp.stop();
  await dbs.dropAll();
  await vps.stop();
  await fresh?.stop();
}

const table = markdownTable(["figure", "service", "reference (same run)", "ratio", "target"], rows);
const growthTable = markdownTable(["growth", "service", "reference (same run)", "ratio"], growth);
console.log(table);
console.log();
console.log(growthTable);
console.log(`\n/health ratio per round: ${healthRatios.map((r) => r.toFixed(2)).join(", ")}`);
if (!QUICK) {
  writeBenchmarkSection(
    "api",
    `## API hot paths (\`npm run bench:api\`)

Measured ${new Date().toISOString().slice(0, 10)} on the project's machine kind (firecracker VM, 2 cores, 24 GiB, shared with other
work), service in-process (Bun ${Bun.version}, production row cache, JSON log lines formatted then dropped), load by
\`wrk -t2 -c${CONCURRENCY} -d${LOAD_SECONDS}s\` and \`pgbench -c ${CONCURRENCY} -j 2 -T ${LOAD_SECONDS}\` on the same machine, the VPS a network
namespace on a veth pair. Service and reference alternate ${ROUNDS} times; figures are medians, the ratio the median of
the rounds' ratios (/health per round: ${healthRatios.map((r) => r.toFixed(2)).join(", ")}). Latencies are sequential requests
(${TABLES_WARM} warm, ${TABLES_COLD} cold, ${DEPLOYS} deploys).

${table}

${growthTable}

Notes (profiles taken with \`bun --cpu-prof-md\` under the same wrk load; deploy phases from a trace of the remote steps):
- \`/health\` used to pay for: every cookie of every request parsed (one hook asking Elysia for \`cookie\` makes it
  parse cookies on all routes), every request made asynchronous (Elysia took @elysiajs/cors's request hook for an
  async one from its source text), two \`new URL\` per request, the client-address lookup and rate-limit bookkeeping,
  the per-request log line (JSON, timestamp, a deferred callback), and a response check of the liveness body (Elysia's
  \`date-time\` format check is a slow unanchored regex). None of that runs for a probe now. What remains beyond the bare
  app: the request id (UUID, one WeakMap entry), six more headers (security headers, \`Vary: Origin\`), seven
  synchronous request hooks that return at once.
- \`/get-db\` answers from a per-user row cache (1 s, emptied by every write of this instance), so the database is
  not queried per poll; each answer still opens every password (AES-256-GCM, about 1.5 µs a row), checks the response
  shape (compiled) and writes JSON: that is what grows with the number of databases. pgbench's cost grows with the
  rows it transfers too, hence the roughly stable ratio.
- A deploy on a configured machine is one SSH round trip (one script) plus the service's own login probe. Of about
  400–470 ms in these runs: SSH channel, bash and the lock ~40 ms; the cluster choice ~10–50 ms (pg_lsclusters,
  a Perl script of ~100–200 ms, only when its remembered answer no longer holds); one psql session as postgres ~200–250
  ms (sudo, login, checks, role, and above all CREATE DATABASE copying template1 through the WAL with an fsync); the
  pg_hba.conf / listen_addresses checks ~35 ms; the login as the new role over TCP (SCRAM) ~40 ms; metadata rows and
  the audit entry ~20 ms. Growth with the databases already on the machine is small: nothing in the path lists them.`,
  );
}
