import type { SandboxVps } from "../tests/support/sandboxVps";
import type { TestDatabases } from "../tests/support/testDatabase";
import { tokenFor } from "../tests/support/tokens";
import { markdownTable, percentile, timeIt } from "./support";

/**
 * How browsing grows (issue 13, item 5, for tables list and table data): the tables list of a
 * schema holding 10 … 10,000 tables, warm (kept SSH connection and reader session) and cold (a
 * fresh service: SSH handshake, reader role, login); and page 1 vs page 1,000 vs page 100,000
 * of a 10-million-row table in primary key order, by `offset` and by keyset (`after`).
 */
const TABLE_COUNTS = [10, 100, 1_000, 10_000];
const BIG_ROWS = Number(process.env.BENCH_GROWTH_ROWS ?? 10_000_000);
/** Page sizes and page numbers: 100-row pages, and the default JSON cap (TABLE_DATA_MAX_ROWS, 10,000). */
const PAGINGS: Array<{ size: number; pages: number[] }> = [
  { size: 100, pages: [1, 1_000, 100_000] },
  { size: 10_000, pages: [1, 1_000] },
];
const WARM_SAMPLES = 20;
const COLD_SAMPLES = 5;
const PAGE_SAMPLES = 5;

type Service = { url: string; pid: number; stop(): Promise<void> };

export interface GrowthSetup {
  vps: SandboxVps;
  dbs: TestDatabases;
  startService(dbs: TestDatabases): Promise<Service>;
  user: number;
  machineId: number;
  db: string;
  role: string;
}

async function post(service: Service, path: string, user: number, body: Record<string, unknown>): Promise<unknown> {
  const response = await fetch(`${service.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${tokenFor(user)}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${path} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

async function asPostgres(vps: SandboxVps, db: string, sql: string): Promise<void> {
  const out = await vps.exec(`cd /tmp && sudo -u postgres psql -X -q -v ON_ERROR_STOP=1 -d ${db}`, sql);
  if (out.exitCode !== 0) throw new Error(`setting up the growth fixtures failed: ${out.stderr}`);
}

const fmt = (n: number, digits = 1) => n.toFixed(digits);

export async function measureGrowth(setup: GrowthSetup): Promise<string> {
  const { vps, dbs, db, role, user, machineId } = setup;
  const base = { databaseName: db, vpsId: machineId, vpsIp: setup.vps.ip, username: role };
  const built = await timeIt(async () => {
    await asPostgres(
      vps,
      db,
      `SET synchronous_commit = off;
${TABLE_COUNTS.map((n) => `CREATE SCHEMA g${n} AUTHORIZATION ${role};`).join("\n")}
SELECT pg_catalog.format('CREATE TABLE g%s.t%s (id integer)', n, i) FROM unnest(ARRAY[${TABLE_COUNTS.join(",")}]) n, generate_series(1, n) i \\gexec
CREATE TABLE big_rows (id integer NOT NULL, n integer);
INSERT INTO big_rows SELECT g, g % 1000 FROM generate_series(1, ${BIG_ROWS}) g;
ALTER TABLE big_rows ADD PRIMARY KEY (id);
ALTER TABLE big_rows OWNER TO ${role};
VACUUM ANALYZE big_rows;
`,
    );
  });
  console.log(`growth fixtures built in ${fmt(built / 1000)} s`);

  const listRows: string[][] = [];
  const warmService = await setup.startService(dbs);
  try {
    for (const n of TABLE_COUNTS) {
      const list = () => post(warmService, "/get-tables-list", user, { ...base, schema: `g${n}` });
      const first = (await list()) as { data: string[] };
      if (first.data.length !== n) throw new Error(`expected ${n} tables, got ${first.data.length}`);
      const warm: number[] = [];
      for (let i = 0; i < WARM_SAMPLES; i++) warm.push(await timeIt(list));
      const cold: number[] = [];
      for (let i = 0; i < COLD_SAMPLES; i++) {
        const fresh = await setup.startService(dbs);
        try {
          cold.push(await timeIt(() => post(fresh, "/get-tables-list", user, { ...base, schema: `g${n}` })));
        } finally {
          await fresh.stop();
        }
      }
      listRows.push([n.toLocaleString("en"), fmt(percentile(warm, 50)), fmt(percentile(warm, 95)), fmt(percentile(cold, 50))]);
    }

    const pageRows: string[][] = [];
    for (const { size, pages } of PAGINGS) {
      for (const pageNo of pages) {
        const offset = (pageNo - 1) * size;
        if (offset >= BIG_ROWS) continue;
        const byOffset = () => post(warmService, "/get-table-data", user, { ...base, tableName: "big_rows", limit: size, offset });
        const byKey = () => post(warmService, "/get-table-data", user, { ...base, tableName: "big_rows", limit: size, ...(offset > 0 ? { after: [offset] } : {}) });
        // Both must give the same rows: ids offset+1 … offset+size.
        for (const read of [byOffset, byKey]) {
          const page = (await read()) as { data: Array<{ id: number }> };
          if (page.data[0]?.id !== offset + 1 || page.data.length !== Math.min(size, BIG_ROWS - offset)) throw new Error(`page ${pageNo} starts at ${page.data[0]?.id}`);
        }
        const offsetTimes: number[] = [];
        const keyTimes: number[] = [];
        for (let i = 0; i < PAGE_SAMPLES; i++) {
          offsetTimes.push(await timeIt(byOffset));
          keyTimes.push(await timeIt(byKey));
        }
        pageRows.push([size.toLocaleString("en"), pageNo.toLocaleString("en"), offset.toLocaleString("en"), fmt(percentile(offsetTimes, 50)), fmt(percentile(keyTimes, 50))]);
      }
    }

    return `## Growth: tables list and table data (\`npm run bench:table\`)

Measured ${new Date().toISOString().slice(0, 10)} in the same run and setting as "Table data" above. Tables list: one schema
per size, sequential requests: warm = ${WARM_SAMPLES} requests on a running service (pooled SSH connection, kept reader
session), cold = the first request of a freshly started service (SSH handshake and login, reader role created, psql
started), median of ${COLD_SAMPLES}. Table data: a ${BIG_ROWS.toLocaleString("en")}-row table (\`id integer PRIMARY KEY, n integer\`),
pages of 100 and 10,000 rows (the default JSON cap) in primary key order, warm, median of ${PAGE_SAMPLES}; \`offset\` is the portal's paging,
\`after\` the keyset paging added for this (the previous page's \`nextAfter\`).

${markdownTable(["tables in the schema", "warm p50, ms", "warm p95, ms", "cold p50, ms"], listRows)}

${markdownTable(["rows per page", "page", "offset", "by offset, p50 ms", "by key (after), p50 ms"], pageRows)}

With \`offset\` PostgreSQL reads and discards every row before the page (the primary key index walk is linear in the
offset); with \`after\` it starts at the key in the index, so the last pages cost what page 1 does. The tables list
grows with the names it sends (one catalog scan, one line per table); cold adds the SSH login, the reader role and
psql's start. The machine's 2 cores were shared with other jobs during the run: compare within a table, not across.`;
  } finally {
    await warmService.stop();
  }
}
