import { readFileSync } from "node:fs";
import net from "node:net";

/** Resident memory of a process in MiB, from /proc (Linux). */
export function residentMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match?.[1]) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) / 1024;
}

export interface UploadResult {
  /** Status of the first answer, or 0 when the connection closed without one. */
  status: number;
  /** That answer's headers, names in lower case. */
  headers: Record<string, string>;
  bytesSent: number;
  /** Highest resident memory of the watched process seen while sending. */
  peakRssMiB: number;
}

/**
 * POSTs `totalBytes` of JSON-looking data with `Transfer-Encoding: chunked` (no Content-Length)
 * over a raw socket, and stops sending as soon as the server answers or closes. Bounded by
 * `totalBytes` and by `timeoutMs`.
 */
export async function chunkedUpload(options: { port: number; path: string; headers: Record<string, string>; totalBytes: number; watchPid: number; timeoutMs?: number }): Promise<UploadResult> {
  const socket = net.connect(options.port, "127.0.0.1");
  let received = "";
  let closed = false;
  socket.on("data", (data) => {
    received += data.toString("latin1");
  });
  socket.on("close", () => {
    closed = true;
  });
  socket.on("error", () => {
    closed = true;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  const head = Object.entries({ host: "127.0.0.1", "content-type": "application/json", ...options.headers, "transfer-encoding": "chunked" })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  socket.write(`POST ${options.path} HTTP/1.1\r\n${head}\r\n`);
  // A JSON string that never ends: only a full read would find out it is malformed.
  const chunk = Buffer.alloc(64 * 1024, "x");
  chunk[0] = "{".charCodeAt(0);
  let bytesSent = 0;
  let peakRssMiB = residentMiB(options.watchPid);
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  while (bytesSent < options.totalBytes && !closed && !received.includes("\r\n\r\n") && Date.now() < deadline) {
    const flushed = socket.write(`${chunk.length.toString(16)}\r\n`) && socket.write(chunk) && socket.write("\r\n");
    bytesSent += chunk.length;
    if (!flushed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1_000);
        socket.once("drain", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    if (bytesSent % (4 * 1024 * 1024) === 0) peakRssMiB = Math.max(peakRssMiB, residentMiB(options.watchPid));
  }
  if (!closed && !received.includes("\r\n\r\n")) socket.write("0\r\n\r\n");
  // Wait (bounded) for the answer's status line.
  for (let i = 0; i < 100 && !closed && !received.includes("\r\n\r\n"); i++) await Bun.sleep(50);
  peakRssMiB = Math.max(peakRssMiB, residentMiB(options.watchPid));
  socket.destroy();
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of received.split("\r\n\r\n", 1)[0]?.split("\r\n").slice(1) ?? []) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, bytesSent, peakRssMiB };
}
