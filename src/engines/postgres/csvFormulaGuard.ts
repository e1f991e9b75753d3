/**
 * Spreadsheet programs run a cell that begins with `=`, `+`, `-` or `@` (and some also after a
 * leading tab or carriage return) as a formula, so a CSV export of user data can carry a formula
 * into whoever opens it ("CSV injection"). The usual neutralisation prefixes such cells with `'`,
 * which spreadsheets read as "this is text". It changes the values (`-5` becomes `'-5`), hence
 * opt-in.
 *
 * Works on PostgreSQL's `COPY ... (FORMAT csv)` output (`,` between fields, `"` quoting with `""`
 * inside, newline between rows, newlines inside quoted fields) as it streams: a field, even its
 * opening quote, may be split across chunks. Every byte that matters is ASCII, so scanning bytes
 * is safe for UTF-8.
 */

const QUOTE = 0x22;
const COMMA = 0x2c;
const NEWLINE = 0x0a;
const APOSTROPHE = 0x27;

function startsFormula(byte: number): boolean {
  // = + - @ tab CR
  return byte === 0x3d || byte === 0x2b || byte === 0x2d || byte === 0x40 || byte === 0x09 || byte === 0x0d;
}

const enum Where {
  /** Before a field's first byte. */
  FieldStart,
  /** Just after a quoted field's opening quote: the value's first byte comes next. */
  QuotedValueStart,
  /** Inside a quoted field. */
  Quoted,
  /** After a `"` inside a quoted field: either the closing quote or the first of `""`. */
  QuoteInQuoted,
  /** Inside an unquoted field. */
  Unquoted,
}

export class CsvFormulaGuard {
  private where = Where.FieldStart;

  /** The chunk with `'` put before every value that begins like a formula. */
  push(chunk: Uint8Array): Uint8Array {
    const insertAt: number[] = [];
    let where = this.where;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      switch (where) {
        case Where.FieldStart:
          if (byte === QUOTE) where = Where.QuotedValueStart;
          else if (byte === COMMA || byte === NEWLINE) where = Where.FieldStart;
          else {
            if (startsFormula(byte)) insertAt.push(i);
            where = Where.Unquoted;
          }
          break;
        case Where.QuotedValueStart:
          if (byte === QUOTE) where = Where.QuoteInQuoted;
          else {
            if (startsFormula(byte)) insertAt.push(i);
            where = Where.Quoted;
          }
          break;
        case Where.Quoted: {
          // Most of a long quoted value is skipped in one native search.
          const quote = chunk.indexOf(QUOTE, i);
          if (quote === -1) i = chunk.length;
          else {
            i = quote;
            where = Where.QuoteInQuoted;
          }
          break;
        }
        case Where.QuoteInQuoted:
          if (byte === QUOTE) where = Where.Quoted;
          else if (byte === COMMA || byte === NEWLINE) where = Where.FieldStart;
          else where = Where.Unquoted;
          break;
        case Where.Unquoted:
          if (byte === COMMA || byte === NEWLINE) where = Where.FieldStart;
          break;
      }
    }
    this.where = where;
    if (insertAt.length === 0) return chunk;
    const out = new Uint8Array(chunk.length + insertAt.length);
    let from = 0;
    let to = 0;
    for (const at of insertAt) {
      out.set(chunk.subarray(from, at), to);
      to += at - from;
      out[to++] = APOSTROPHE;
      from = at;
    }
    out.set(chunk.subarray(from), to);
    return out;
  }
}
