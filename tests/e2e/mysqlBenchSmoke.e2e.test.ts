import { expect, test } from "bun:test";
import { join } from "node:path";

/**
 * The MySQL benchmark (`npm run bench:mysql`) in miniature, so that it keeps working: a few
 * hundred rows, one round, one extra deploy, BENCHMARKS.md left alone. Asserts only that it
 * runs to the end and prints its tables; the figures are meaningless at this size.
 */
test("bench/mysqlTableData.bench.ts runs end to end on tiny data", async () => {
  const child = Bun.spawn([process.execPath, "bench/mysqlTableData.bench.ts"], {
    cwd: join(import.meta.dir, "..", ".."),
    env: { ...process.env, MYSQL_BENCH_ROWS: "300", MYSQL_BENCH_ROUNDS: "1", MYSQL_BENCH_DEPLOYS: "1", MYSQL_BENCH_WRITE: "0" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => child.kill(), 170_000);
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  if (code !== 0) console.error(stderr);
  expect(code).toBe(0);
  expect(stdout).toContain("`mysql --batch` from the host (reference)");
  expect(stdout).toContain("`/get-mysql-table-data` `format: csv`, no limit");
  expect(stdout).toContain("deploy on a set-up machine");
}, 180_000);
