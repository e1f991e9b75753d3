import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { startServiceProcess } from "../tests/support/serviceProcess";
import type { TestDatabases } from "../tests/support/testDatabase";

/** Small helpers shared by the benchmarks: percentiles, tables, BENCHMARKS.md sections. */
export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export async function timeIt(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Replaces (or appends) the section between `<!-- name:start -->` and `<!-- name:end -->`. */
export function writeBenchmarkSection(name: string, body: string, file = "BENCHMARKS.md"): void {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const current = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n\nFigures measured on this project's machine kind (2 cores, 24 GiB, shared and noisy): compare ratios measured in one run, not absolute numbers.\n";
  const block = `${start}\n${body.trim()}\n${end}`;
  const from = current.indexOf(start);
  const to = current.indexOf(end);
  const next = from !== -1 && to > from ? current.slice(0, from) + block + current.slice(to + end.length) : `${current.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, next);
}

const ROOT = new URL("..", import.meta.url).pathname;

/** The tests' local PostgreSQL (metadata and registry), set up exactly as `npm test` does when not done already. */
export function ensureTestDatabaseUrl(): void {
  if (process.env.TEST_DATABASE_URL) return;
  const out = Bun.spawnSync(["bash", "-c", 'source scripts/test-postgres.sh >&2 && printf %s "$TEST_DATABASE_URL"'], { cwd: ROOT, stderr: "inherit" });
  if (out.exitCode !== 0) throw new Error("scripts/test-postgres.sh failed");
  process.env.TEST_DATABASE_URL = out.stdout.toString();
}

/** A process's resident memory now (VmRSS) or at its peak since the last reset (VmHWM), in KiB. */
export function memoryKb(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
}

export interface BenchService {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** The service as production runs it (tests/support/serviceProcess.ts), in a child process whose memory we can watch. */
export async function startBenchService(dbs: TestDatabases, extra: Record<string, string> = {}): Promise<BenchService> {
  const service = startServiceProcess({ metadataUrl: dbs.metadata.url, registryUrl: dbs.registryDb.url, extra });
  const stop = async () => {
    service.process.kill();
    await service.process.exited;
  };
  try {
    await service.waitHealthy();
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: service.baseUrl, pid: service.process.pid, stop };
}
