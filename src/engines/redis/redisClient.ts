import { createConnection } from "node:net";

/** A reply of the RESP2 protocol, as much of it as our commands produce. */
export type RespReply = { kind: "simple" | "error"; text: string } | { kind: "integer"; value: number } | { kind: "bulk"; value: string | null };

export interface RedisEndpoint {
  host: string;
  port: number;
  password: string;
  timeoutMs: number;
}

function encodeCommand(args: string[]): Buffer {
  const parts = [`*${args.length}\r\n`];
  for (const arg of args) parts.push(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
  return Buffer.from(parts.join(""), "utf8");
}

/** Parses one complete reply at `offset`, or returns undefined when more bytes are needed. */
function parseReply(buffer: Buffer, offset: number): { reply: RespReply; next: number } | undefined {
  const lineEnd = buffer.indexOf("\r\n", offset);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[offset] ?? 0);
  const line = buffer.toString("utf8", offset + 1, lineEnd);
  if (type === "+") return { reply: { kind: "simple", text: line }, next: lineEnd + 2 };
  if (type === "-") return { reply: { kind: "error", text: line }, next: lineEnd + 2 };
  if (type === ":") return { reply: { kind: "integer", value: Number(line) }, next: lineEnd + 2 };
  if (type === "$") {
    const length = Number(line);
    if (length < 0) return { reply: { kind: "bulk", value: null }, next: lineEnd + 2 };
    const end = lineEnd + 2 + length;
    if (buffer.length < end + 2) return undefined;
    return { reply: { kind: "bulk", value: buffer.toString("utf8", lineEnd + 2, end) }, next: end + 2 };
  }
  throw new Error(`unexpected Redis reply type ${JSON.stringify(type)}`);
}

/**
 * Opens a TCP connection, authenticates with AUTH, runs the commands, and returns their replies
 * (AUTH's first). The password travels only inside the connection. Bounded by `timeoutMs`.
 */
export function redisCommands(endpoint: RedisEndpoint, commands: string[][]): Promise<RespReply[]> {
  const all = [["AUTH", endpoint.password], ...commands];
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: endpoint.host, port: endpoint.port });
    let buffer = Buffer.alloc(0);
    const replies: RespReply[] = [];
    let settled = false;
    const finish = (error: Error | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(replies);
    };
    const timer = setTimeout(() => finish(new Error(`no answer from Redis at ${endpoint.host}:${endpoint.port} within ${endpoint.timeoutMs} ms`)), endpoint.timeoutMs);
    socket.once("connect", () => socket.write(Buffer.concat(all.map(encodeCommand))));
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      try {
        let offset = 0;
        for (let parsed = parseReply(buffer, offset); parsed; parsed = parseReply(buffer, offset)) {
          replies.push(parsed.reply);
          offset = parsed.next;
        }
        buffer = buffer.subarray(offset);
      } catch (error) {
        finish(error instanceof Error ? error : new Error("bad Redis reply"));
        return;
      }
      if (replies.length >= all.length) finish(undefined);
    });
    socket.once("error", (error) => finish(error));
    socket.once("close", () => finish(new Error(`Redis at ${endpoint.host}:${endpoint.port} closed the connection`)));
  });
}

/** Proves a server accepts the password and answers: AUTH → OK, PING → PONG, over TCP. */
export type RedisProbe = (endpoint: RedisEndpoint) => Promise<void>;

export const probeRedis: RedisProbe = async (endpoint) => {
  const [auth, ping] = await redisCommands(endpoint, [["PING"]]);
  if (auth?.kind !== "simple" || auth.text !== "OK") throw new Error("Redis refused the password");
  if (ping?.kind !== "simple" || ping.text !== "PONG") throw new Error("Redis did not answer PING");
};
