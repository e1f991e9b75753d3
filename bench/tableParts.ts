import { SSHClient } from "../src/ssh/SSHClient";
import { CopyTextToJson } from "../src/engines/postgres/copyToJson";
import type { ColumnSpec } from "../src/engines/postgres/tableValues";
import type { SandboxVps } from "../tests/support/sandboxVps";
import { timeIt } from "./support";

/**
 * The JSON path of a table read, part by part, each timed alone (bench:table's "where the time
 * goes"): the COPY on the VPS, the same COPY read over one SSH channel, the conversion to JSON,
 * and the HTTP transfer of the converted body. One round per call, interleaved with the
 * benchmark's own rounds so that all figures see the same machine load.
 */
export interface PartTimes {
  vpsCopyMs: number;
  overSshMs: number;
  conversionMs: number;
  httpMs: number;
}

/** bench_rows' columns as the service's head would describe them (kinds decide the JSON). */
const COLUMNS: ColumnSpec[] = [
  { name: "id", type: "integer", kind: "integer" },
  { name: "name", type: "text", kind: "text" },
  { name: "amount", type: "numeric(12,2)", kind: "text" },
  { name: "qty", type: "integer", kind: "integer" },
  { name: "ratio", type: "double precision", kind: "float" },
  { name: "active", type: "boolean", kind: "boolean" },
  { name: "created", type: "timestamp with time zone", kind: "text" },
  { name: "note", type: "text", kind: "text" },
  { name: "tags", type: "text[]", kind: "text" },
  { name: "big", type: "bigint", kind: "text" },
];

/** The service converts whatever SSH packets queued up, at most 256 KiB at a time. */
const CHUNK = 256 * 1024;

export interface PartsMeter {
  round(): Promise<PartTimes>;
  close(): void;
}

export async function openPartsMeter(vps: SandboxVps, spec: { db: string; role: string; password: string; rows: number }): Promise<PartsMeter> {
  // The reader's psql on the VPS as the service runs it (loopback TCP, text COPY), without the service.
  const copy = `PGPASSWORD='${spec.password}' psql -X -q -h 127.0.0.1 -U ${spec.role} -d ${spec.db} -c 'COPY (SELECT * FROM bench_rows ORDER BY id LIMIT ${spec.rows}) TO STDOUT'`;
  const timedOnVps = `s=$(date +%s%N); ${copy} >/dev/null || exit 1; e=$(date +%s%N); echo $(( (e - s) / 1000 ))`;
  const ssh = new SSHClient({ host: vps.ip, port: 22, username: "root", password: vps.rootPassword, connectTimeoutMs: 10_000 });
  await ssh.connect();
  // A server in this process that streams a prepared body in the service's chunk sizes: HTTP alone.
  let body: Buffer[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: () => {
      const chunks = body;
      let at = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            const next = chunks[at++];
            if (next) controller.enqueue(next);
            else controller.close();
          },
        }),
        { headers: { "content-type": "application/json; charset=utf-8" } },
      );
    },
  });

  return {
    async round() {
      const onVps = await vps.exec("bash -s", timedOnVps);
      if (onVps.exitCode !== 0) throw new Error(`COPY on the VPS failed: ${onVps.stderr}`);
      const vpsCopyMs = Number(onVps.stdout.trim()) / 1000;

      const chunks: Buffer[] = [];
      const overSshMs = await timeIt(async () => {
        const command = await ssh.execStream("bash -s", { stdin: copy, timeoutMs: 120_000 });
        for await (const chunk of command.stdout) chunks.push(chunk);
        if ((await command.result).exitCode !== 0) throw new Error("COPY over SSH failed");
      });

      const whole = Buffer.concat(chunks);
      const converted: Buffer[] = [];
      const conversionMs = await timeIt(async () => {
        const json = new CopyTextToJson(COLUMNS, spec.rows);
        for (let at = 0; at < whole.length; at += CHUNK) converted.push(json.push(whole.subarray(at, at + CHUNK)));
        json.end();
      });

      body = converted;
      const httpMs = await timeIt(async () => {
        const response = await fetch(`http://127.0.0.1:${server.port}/`);
        const reader = response.body?.getReader();
        for (let next = await reader?.read(); next && !next.done; next = await reader?.read());
      });
      body = [];
      return { vpsCopyMs, overSshMs, conversionMs, httpMs };
    },
    close() {
      ssh.close();
      void server.stop(true);
    },
  };
}
