import type { ColumnSpec, ValueKind } from "./tableValues";

const TAB = 0x09;
const NL = 0x0a;
const QUOTE = 0x22;
const COMMA = 0x2c;
const MINUS = 0x2d;
const BACKSLASH = 0x5c;
const UPPER_I = 0x49;
const UPPER_N = 0x4e;
const LOWER_T = 0x74;
const LOWER_V = 0x76;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const HEX = Buffer.from("0123456789abcdef");
const NULL = Buffer.from("null");
const TRUE = Buffer.from("true");
const FALSE = Buffer.from("false");
const EMPTY = Buffer.alloc(0);

/** Bytes a text value cannot simply copy: separators, `"`, `\\` and other control characters. */
const SPECIAL = new Uint8Array(256);
for (let b = 0; b < 0x20; b++) SPECIAL[b] = 1;
SPECIAL[QUOTE] = 1;
SPECIAL[BACKSLASH] = 1;

const KIND_TEXT = 0;
const KIND_INTEGER = 1;
const KIND_FLOAT = 2;
const KIND_BOOLEAN = 3;
const KIND_CODES: Record<ValueKind, number> = { text: KIND_TEXT, integer: KIND_INTEGER, float: KIND_FLOAT, boolean: KIND_BOOLEAN };

/**
 * Converts COPY text output (one row per line, tab-separated, `\N` for NULL) into the rows of
 * a JSON array, byte for byte, in one pass and without a string per value: tables of any
 * size go through in little time and memory. Bytes of UTF-8 characters are copied as they
 * are (JSON allows them raw), so a character cut between two chunks needs no care.
 *
 * COPY TO escapes exactly `\\ \b \f \n \r \t \v` (never octal or hex) and JSON reads all of
 * them but `\v`; so text is copied with only `"`, `\v` and the control characters COPY
 * leaves raw rewritten. Values become JSON as in the contract: `\N` → null, booleans
 * true/false, smallint/integer as numbers, real/double as numbers except NaN and the
 * infinities (strings), everything else a string of PostgreSQL's text.
 */
export class CopyTextToJson {
  private carry: Buffer = EMPTY;
  private rows = 0;
  private sawExtraRow = false;
  private readonly keys: Buffer[];
  private readonly kinds: Uint8Array;
  private readonly rowOverhead: number;
  /** Output bytes per input byte so far (JSON repeats the keys on every row). */
  private growth = 2;
  private out: Buffer = EMPTY;
  private lastRow: Buffer | undefined;

  /** Rows after the first `limit` are counted but not written; with `keepLastRow` the last written row's line is kept. */
  constructor(
    columns: ColumnSpec[],
    private readonly limit: number,
    private readonly keepLastRow = false,
  ) {
    this.keys = columns.map((column, i) => Buffer.from(`${i === 0 ? "{" : ","}${JSON.stringify(column.name)}:`));
    this.kinds = Uint8Array.from(columns.map((column) => KIND_CODES[column.kind]));
    this.rowOverhead = this.keys.reduce((sum, key) => sum + key.length, 0) + 2 * columns.length + 3;
  }

  /** True once a row beyond `limit` was seen. */
  get truncated(): boolean {
    return this.sawExtraRow;
  }

  /** The last written row as COPY printed it (without its newline), when asked to keep it. */
  get lastRowLine(): string | undefined {
    return this.lastRow?.toString("utf8");
  }

  /** JSON for the complete rows in `carry + chunk`, each but the first preceded by a comma. */
  push(chunk: Buffer): Buffer {
    const firstEnd = chunk.indexOf(NL) + 1;
    if (firstEnd === 0) {
      this.carry = Buffer.concat([this.carry, chunk]);
      return EMPTY;
    }
    const lastEnd = chunk.lastIndexOf(NL) + 1;
    // Only the row cut by the previous chunk is copied together; the rest is read in place.
    const joined = this.carry.length > 0 ? Buffer.concat([this.carry, chunk.subarray(0, firstEnd)]) : undefined;
    const from = joined ? firstEnd : 0;
    const inputBytes = (joined?.length ?? 0) + lastEnd - from;
    // Sized from what earlier chunks grew by: every chunk's buffer is garbage once sent, so
    // generous guesses would multiply the memory a large table churns through.
    this.out = Buffer.allocUnsafe(Math.ceil(inputBytes * this.growth * 1.05) + this.rowOverhead);
    let o = joined ? this.convert(joined, 0, joined.length, 0) : 0;
    o = this.convert(chunk, from, lastEnd, o);
    this.carry = Buffer.from(chunk.subarray(lastEnd));
    if (o > 0) this.growth = o / inputBytes;
    const out = this.out.subarray(0, o);
    this.out = EMPTY;
    return out;
  }

  /** Converts the complete rows in `input[start, end)` into `this.out` from `o`; returns the new end. */
  private convert(input: Buffer, start: number, end: number, from: number): number {
    const width = this.kinds.length;
    let out = this.out;
    let o = from;
    let i = start;
    let lastStart = -1;
    let lastEnd = -1;
    while (i < end) {
      const nl = input.indexOf(NL, i);
      this.rows++;
      if (this.rows > this.limit) {
        this.sawExtraRow = true;
        i = nl + 1;
        continue;
      }
      lastStart = i;
      lastEnd = nl;
      // Every input byte becomes at most 6 output bytes (a control character as \u00XX).
      const worst = o + (nl - i) * 6 + this.rowOverhead;
      if (worst > out.length) {
        const bigger = Buffer.allocUnsafe(Math.max(worst, Math.ceil(out.length * 1.25)));
        out.copy(bigger, 0, 0, o);
        out = bigger;
      }
      if (this.rows > 1) out[o++] = COMMA;
      if (width === 0) {
        if (nl !== i) throw new Error("A row from the machine has values but the table has no columns");
        out[o++] = OPEN;
        out[o++] = CLOSE;
        i = nl + 1;
        continue;
      }
      for (let col = 0; col < width; col++) {
        const key = this.keys[col] as Buffer;
        for (let k = 0; k < key.length; k++) out[o++] = key[k] as number;
        const first = input[i];
        if (first === BACKSLASH && input[i + 1] === UPPER_N && (input[i + 2] === TAB || i + 2 === nl)) {
          NULL.copy(out, o);
          o += 4;
          i += 2;
        } else {
          switch (this.kinds[col]) {
            case KIND_BOOLEAN: {
              const word = first === LOWER_T ? TRUE : FALSE;
              word.copy(out, o);
              o += word.length;
              while (input[i] !== TAB && input[i] !== NL) i++;
              break;
            }
            case KIND_INTEGER:
              while (input[i] !== TAB && input[i] !== NL) out[o++] = input[i++] as number;
              break;
            case KIND_FLOAT: {
              const named = first === UPPER_N || first === UPPER_I || (first === MINUS && input[i + 1] === UPPER_I);
              if (named) out[o++] = QUOTE;
              while (input[i] !== TAB && input[i] !== NL) out[o++] = input[i++] as number;
              if (named) out[o++] = QUOTE;
              break;
            }
            default:
              out[o++] = QUOTE;
              for (;;) {
                const b = input[i] as number;
                if (SPECIAL[b] === 0) {
                  out[o++] = b;
                  i++;
                  continue;
                }
                if (b === TAB || b === NL) break;
                if (b === QUOTE) {
                  out[o++] = BACKSLASH;
                  out[o++] = QUOTE;
                  i++;
                } else if (b === BACKSLASH) {
                  const escaped = input[i + 1];
                  if (escaped === undefined || escaped === TAB || escaped === NL) throw new Error("A row from the machine ends in a lone backslash");
                  if (escaped === LOWER_V) o = writeControl(out, o, 0x0b);
                  else {
                    out[o++] = BACKSLASH;
                    out[o++] = escaped;
                  }
                  i += 2;
                } else if (b < 0x20) {
                  o = writeControl(out, o, b);
                  i++;
                } else {
                  out[o++] = b;
                  i++;
                }
              }
              out[o++] = QUOTE;
          }
        }
        if (col < width - 1) {
          if (input[i] !== TAB) throw new Error(`A row from the machine has fewer than ${width} values`);
          i++;
        } else if (i !== nl) {
          throw new Error(`A row from the machine has more than ${width} values`);
        }
      }
      out[o++] = CLOSE;
      i = nl + 1;
    }
    // Once per chunk, not per row: only the page's very last row is ever asked for.
    if (this.keepLastRow && lastStart !== -1) this.lastRow = Buffer.from(input.subarray(lastStart, lastEnd));
    this.out = out;
    return o;
  }

  /** COPY ends every row with a newline: leftover bytes mean the output was cut short. */
  end(): void {
    if (this.carry.length > 0) throw new Error("The rows from the machine ended in the middle of a row");
  }
}

function writeControl(out: Buffer, o: number, code: number): number {
  out[o] = BACKSLASH;
  out[o + 1] = 0x75; // u
  out[o + 2] = 0x30;
  out[o + 3] = 0x30;
  out[o + 4] = HEX[code >> 4] as number;
  out[o + 5] = HEX[code & 15] as number;
  return o + 6;
}
