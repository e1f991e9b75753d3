import { describe, expect, test } from "bun:test";

/**
 * CI smoke of `npm run bench:api`: the benchmark runs end to end with tiny durations and counts
 * (BENCH_QUICK=1, seconds of load, nothing written to BENCHMARKS.md). Only that it runs and
 * prints its tables is asserted, never a figure: the machine's speed is not under test.
 */
describe("bench:api smoke", () => {
  test("runs every part and prints its tables", async () => {
    const child = Bun.spawn(["bun", "bench/api.bench.ts"], { env: { ...process.env, BENCH_QUICK: "1" }, stdout: "pipe", stderr: "pipe" });
    const killer = setTimeout(() => child.kill(), 240_000);
    const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    clearTimeout(killer);
    expect(exitCode, stderr).toBe(0);
    for (const figure of ["GET /health, req/s", "GET /get-db (10 rows), req/s", "deploy, machine already set up", "get-db, user with 10 databases", "deploy, machine with 10 databases"]) {
      expect(stdout).toContain(figure);
    }
  }, 300_000);
});
