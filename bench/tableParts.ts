import { SSHClient } from "../src/ssh/SSHClient";
import { CopyTextToJson } from "../src/engines/postgres/copyToJson";
import type { ColumnSpec } from "../src/engines/postgres/tableValues";
import type { SandboxVps } from "../tests/support/sandboxVps";
import { timeIt } from "./support";

/** The JSON path of a table read, part by part, each timed alone (bench:table's "where the time goes"). */
export interface PartTimes {
  vpsCopyMs: number;
  overSshMs: number;
  conversionMs: number;
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

/** sshd's packets are small; the service converts whatever queued up, at most 256 KiB at a time. */
const CHUNK = 256 * 1024;

export async function measureParts(vps: SandboxVps, spec: { db: string; role: string; password: string; rows: number; rounds: number }): Promise<PartTimes> {
  // The reader's psql on the VPS, as the service runs it (loopback TCP, text COPY), minus the service.
  const copy = `PGPASSWORD='${spec.password}' psql -X -q -h 127.0.0.1 -U ${spec.role} -d ${spec.db} -c 'COPY (SELECT * FROM bench_rows ORDER BY id LIMIT ${spec.rows}) TO STDOUT'`;
  const timedOnVps = `s=$(date +%s%N); ${copy} >/dev/null || exit 1; e=$(date +%s%N); echo $(( (e - s) / 1000 ))`;
  const vpsCopy: number[] = [];
  const overSsh: number[] = [];
  const conversion: number[] = [];
  let output: Buffer[] = [];
  const ssh = new SSHClient({ host: vps.ip, port: 22, username: "root", password: vps.rootPassword, connectTimeoutMs: 10_000 });
  await ssh.connect();
  try {
    for (let round = 0; round < spec.rounds; round++) {
      const onVps = await vps.exec("bash -s", timedOnVps);
      if (onVps.exitCode !== 0) throw new Error(`COPY on the VPS failed: ${onVps.stderr}`);
      vpsCopy.push(Number(onVps.stdout.trim()) / 1000);

      const chunks: Buffer[] = [];
      overSsh.push(
        await timeIt(async () => {
          const command = await ssh.execStream("bash -s", { stdin: copy, timeoutMs: 120_000 });
          for await (const chunk of command.stdout) chunks.push(chunk);
          if ((await command.result).exitCode !== 0) throw new Error("COPY over SSH failed");
        }),
      );
      output = chunks;

      const whole = Buffer.concat(output);
      conversion.push(
        await timeIt(async () => {
          const json = new CopyTextToJson(COLUMNS, spec.rows);
          for (let at = 0; at < whole.length; at += CHUNK) json.push(whole.subarray(at, at + CHUNK));
          json.end();
        }),
      );
    }
  } finally {
    ssh.close();
  }
  return { vpsCopyMs: Math.min(...vpsCopy), overSshMs: Math.min(...overSsh), conversionMs: Math.min(...conversion) };
}
