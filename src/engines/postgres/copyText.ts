/**
 * PostgreSQL's COPY text format, in which the browsing scripts print metadata and rows. It
 * suits streaming better than CSV: every row is exactly one line (newlines inside values are
 * escaped), fields are split by tabs, and SQL NULL is the unambiguous `\N`, while an empty
 * string is an empty field. Values are the types' own output functions, byte for byte.
 * (Rows are turned into JSON byte by byte in copyToJson.ts; these helpers serve the rest.)
 */
const ESCAPES: Record<string, string> = { b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v" };

/**
 * Undoes COPY TO's escaping. COPY TO only emits the single-letter escapes and `\\`, never
 * the octal or hex forms, so any other escaped character stands for itself (as in COPY FROM).
 */
export function unescapeCopyField(field: string): string {
  if (!field.includes("\\")) return field;
  return field.replace(/\\([\s\S])/g, (_, c: string) => ESCAPES[c] ?? c);
}

/** The raw (still escaped) fields of one line; a zero-column table prints empty lines. */
export function splitCopyLine(line: string, width: number): string[] {
  return width === 0 ? [] : line.split("\t");
}

/** The lines of COPY output, each ended by a newline (so a last empty row is kept). */
export function copyLines(text: string): string[] {
  const lines = text.split("\n");
  lines.pop();
  return lines;
}
