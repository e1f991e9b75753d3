import { MarkerLineScanner } from "./markerLineScanner";

/**
 * Splits a browsing script's streamed stdout (see tableQueries.ts) into its head, the lines
 * before `@@ROWS`, and the rows that follow, which are passed on as bytes, untouched.
 */
const ROWS_MARKER = "@@ROWS";
/** The head is a few markers and one line per column; anything near this size is not ours. */
const HEAD_MAX_BYTES = 4 * 1024 * 1024;

export interface ScriptHead {
  /** Complete lines before `@@ROWS` (all of stdout when the script stopped early). */
  lines: string[];
  /** The rest of stdout after `@@ROWS`, or undefined when the script never got there. */
  rows: AsyncIterator<Buffer> | undefined;
}

export async function readScriptHead(source: AsyncIterator<Buffer>): Promise<ScriptHead> {
  const scanner = new MarkerLineScanner(ROWS_MARKER, HEAD_MAX_BYTES);
  for (;;) {
    const next = await source.next();
    if (next.done) return { lines: completeLines(scanner.received), rows: undefined };
    const split = scanner.push(next.value);
    if (split) return { lines: completeLines(split.before), rows: prepend(split.after, source) };
  }
}

export interface FirstRows {
  /** True when the rows ended before any byte arrived (an empty result or a failure). */
  empty: boolean;
  rows: AsyncIterator<Buffer>;
}

/**
 * Waits for the first row bytes or the end. Until then nothing has been promised to the
 * client, so a query that fails before its first row can still be reported properly.
 */
export async function awaitFirstRows(rows: AsyncIterator<Buffer>): Promise<FirstRows> {
  for (;;) {
    const next = await rows.next();
    if (next.done) return { empty: true, rows };
    if (next.value.length > 0) return { empty: false, rows: prepend(next.value, rows) };
  }
}

/** The head is decoded only once complete, so a character is never cut in two. */
function completeLines(bytes: Buffer): string[] {
  const lines = bytes.toString("utf8").split("\n");
  lines.pop();
  return lines;
}

function prepend(first: Buffer, source: AsyncIterator<Buffer>): AsyncIterator<Buffer> {
  let pending: Buffer | undefined = first.length === 0 ? undefined : first;
  return {
    next: () => {
      if (pending === undefined) return source.next();
      const value = pending;
      pending = undefined;
      return Promise.resolve({ value, done: false });
    },
  };
}
