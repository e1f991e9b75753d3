import type { OpenedTableData } from "../../engines/postgres/tableReader";

/** Turns the remote COPY output into response bytes, piece by piece. */
export interface RowsFormat {
  /** Sent before the first row. */
  head: Uint8Array;
  /** Bytes for one chunk of COPY output (possibly none, when it held no complete row). */
  chunk(bytes: Buffer): Uint8Array;
  /** Sent after the last row; throws if the output was incomplete. */
  tail(): Uint8Array;
}

/**
 * Every streamed chunk is garbage once sent (SSH packets, converted rows), and JavaScriptCore
 * lets garbage grow in proportion to the whole heap before collecting. A hint every few MiB
 * keeps a large table's footprint small and independent of the heap size (measured in
 * BENCHMARKS.md: the peak roughly halves, at no measurable cost in time).
 */
const GC_HINT_EVERY_BYTES = 8 * 1024 * 1024;

export interface TableBodyOptions {
  /**
   * A consumer that pulls nothing for this long has gone away without saying so (a response
   * never sent); the remote command is stopped and the session released.
   */
  idleMs: number;
  /** Called exactly once, when the body has ended, failed or been cancelled (and the remote query stopped). */
  onEnd(error?: unknown): void;
}

/**
 * The response body for a table page: rows go from the SSH channel through `format` to the
 * client as they arrive, so only a few chunks are ever held. The remote command is read only
 * when the server asks for more, which is how backpressure reaches the VPS (Bun 1.4 asks at the
 * client's pace; 1.3.5 asked regardless: oven-sh/bun#32469).
 */
export function tableBody(table: OpenedTableData, format: RowsFormat, options: TableBodyOptions): ReadableStream<Uint8Array> {
  let ended = false;
  let sinceGcHint = 0;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;

  const end = (error?: unknown) => {
    if (ended) return;
    ended = true;
    clearTimeout(idleTimer);
    // The session is only given back once the remote query is really gone.
    const stopped = error === undefined ? Promise.resolve() : table.abort();
    void stopped.finally(() => options.onEnd(error));
  };
  const armIdleTimer = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => end(new Error("The response body was not read")), options.idleMs);
  };

  return new ReadableStream<Uint8Array>({
    start(controller) {
      armIdleTimer();
      if (format.head.length > 0) controller.enqueue(format.head);
    },
    async pull(controller) {
      clearTimeout(idleTimer);
      if (ended) {
        controller.error(new Error("The table read was stopped"));
        return;
      }
      try {
        // Loop until something is enqueued: a pull that enqueues nothing is not repeated.
        for (;;) {
          const next = await table.rows.next();
          if (ended) return;
          if (next.done) {
            const tail = format.tail();
            await table.finish();
            if (tail.length > 0) controller.enqueue(tail);
            controller.close();
            end();
            return;
          }
          const bytes = format.chunk(next.value);
          if (bytes.length > 0) {
            sinceGcHint += next.value.length + bytes.length;
            if (sinceGcHint > GC_HINT_EVERY_BYTES) {
              sinceGcHint = 0;
              Bun.gc(false);
            }
            controller.enqueue(bytes);
            armIdleTimer();
            return;
          }
        }
      } catch (error) {
        // Headers are gone already: failing the stream makes the server cut the connection,
        // so the client sees an incomplete download rather than a shorter table.
        end(error);
        controller.error(error);
      }
    },
    cancel() {
      end(new Error("The client went away"));
    },
  });
}
