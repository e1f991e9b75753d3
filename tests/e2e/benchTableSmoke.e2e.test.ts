import { expect, test } from "bun:test";
import { join } from "node:path";

/**
 * CI-safe smoke run of `npm run bench:table` (bench/tableData.bench.ts): a few hundred rows, one
 * round, no growth figures, BENCHMARKS.md untouched. It asserts only that the benchmark runs
 * (its own correctness checks pass), never a time.
 */
test("bench:table runs end to end on a tiny table", async () => {
  const child = Bun.spawn([process.execPath, "bench/tableData.bench.ts"], {
    cwd: join(import.meta.dir, "..", ".."),
    env: { ...process.env, BENCH_SMOKE: "1", BENCH_TABLE_ROWS: "300", BENCH_TABLE_ROUNDS: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => child.kill(), 150_000);
  const [code, stdout, stderr] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  clearTimeout(timer);
  expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({ code: 0, stderr: "" });
  expect(stdout).toContain("`psql --csv` from the host (reference)");
  expect(stdout).toContain("COPY text → JSON");
}, 180_000);
