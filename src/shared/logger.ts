/**
 * Structured JSON logs, one line per event. Lines are buffered and written asynchronously in
 * batches, so logging never blocks a request. Callers pass fields, never secrets.
 */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

export interface FlushableLogger extends Logger {
  flush(): Promise<void>;
}

export type LogSink = (chunk: string) => Promise<unknown> | void;

const FLUSH_DELAY_MS = 25;
const MAX_BUFFER_BYTES = 256 * 1024;

export function createJsonLogger(sink: LogSink = (chunk) => Bun.write(Bun.stdout, chunk)): FlushableLogger {
  let buffer: string[] = [];
  let bytes = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let writing: Promise<unknown> = Promise.resolve();

  const flush = (): Promise<void> => {
    clearTimeout(timer);
    timer = undefined;
    if (buffer.length === 0) return writing.then(() => undefined);
    const chunk = buffer.join("");
    buffer = [];
    bytes = 0;
    // Writes stay ordered; a failing sink must never take the service down.
    writing = writing.then(() => sink(chunk)).catch(() => undefined);
    return writing.then(() => undefined);
  };

  const write = (level: string, event: string, fields?: LogFields) => {
    const line = JSON.stringify({ time: new Date().toISOString(), level, event, ...fields }) + "\n";
    buffer.push(line);
    bytes += line.length;
    if (bytes >= MAX_BUFFER_BYTES) void flush();
    else if (!timer) {
      timer = setTimeout(() => void flush(), FLUSH_DELAY_MS);
      timer.unref?.();
    }
  };

  return {
    info: (event, fields) => write("info", event, fields),
    warn: (event, fields) => write("warn", event, fields),
    error: (event, fields) => write("error", event, fields),
    flush,
  };
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
