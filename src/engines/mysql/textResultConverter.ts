import { RemoteStepError, RemoteTimeoutError } from "../../errors/appErrors";
import { cellKind, type CellKind } from "./mysqlValues";

const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NL = 0x0a;
const CR = 0x0d;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const HEX = Buffer.from("0123456789abcdef");
const NULL_JSON = Buffer.from("null");
const EMPTY = Buffer.alloc(0);
/** Output is written into buffers of this size, each handed out once full (or when drained). */
const OUTPUT_BUFFER_BYTES = 128 * 1024;

/** Length-encoded integer markers of the protocol. */
const LENENC_NULL = 0xfb;
const LENENC_2 = 0xfc;
const LENENC_3 = 0xfd;
const LENENC_8 = 0xfe;
const ERR_PACKET = 0xff;
const EOF_PACKET = 0xfe;
/** A payload of this size continues in the next packet. */
const MAX_PACKET = 0xffffff;
/** Column definitions end in a fixed 13-byte block: 0x0c, charset(2), length(4), type(1), flags(2), decimals(1), filler(2). */
const FIXED_TAIL = 13;
/** MariaDB's "query exceeded max_statement_time" and MySQL's "maximum statement execution time exceeded". */
const STATEMENT_TIMEOUT_CODES = new Set([1969, 3024]);

/** Bytes a JSON string cannot carry as they are: `"`, `\\` and control characters. */
const JSON_SPECIAL = new Uint8Array(256);
for (let b = 0; b < 0x20; b++) JSON_SPECIAL[b] = 1;
JSON_SPECIAL[QUOTE] = 1;
JSON_SPECIAL[BACKSLASH] = 1;
/** Bytes that make a CSV field need quotes. */
const CSV_SPECIAL = new Uint8Array(256);
for (const b of [COMMA, QUOTE, NL, CR]) CSV_SPECIAL[b] = 1;
/** Short JSON escapes; other control characters become \u00XX. */
const JSON_ESCAPES = new Map([
  [0x08, 0x62],
  [0x09, 0x74],
  [NL, 0x6e],
  [0x0c, 0x66],
  [CR, 0x72],
  [QUOTE, QUOTE],
  [BACKSLASH, BACKSLASH],
]);

const KIND_TEXT = 0;
const KIND_NUMBER = 1;
const KIND_HEX = 2;
const KIND_CODES: Record<CellKind, number> = { text: KIND_TEXT, number: KIND_NUMBER, hex: KIND_HEX };

const enum Phase {
  /** The first packet: a column count, or an error. */
  Head,
  Columns,
  /** The EOF packet after the column definitions. */
  ColumnsEnd,
  Rows,
  Done,
}

export type TextResultEncoding = { kind: "json"; limit: number } | { kind: "csv" };

/**
 * Turns the bytes of a MySQL text-protocol result set (the answer to a COM_QUERY, as read from
 * the connection) into JSON rows (`{"col":value,...}` separated by commas) or CSV lines, in one
 * pass over the bytes and without a JavaScript value per cell. Values follow mysqlValues.ts:
 * SQL NULL is the only `null` (an empty field in CSV), TINYINT…INT, YEAR, FLOAT and DOUBLE are
 * numbers, binary strings and BIT are 0x-hex, everything else is text as MySQL sent it. The
 * protocol's length-prefixed values mean nothing inside a value can pass for a separator.
 *
 * Assumes the session did not negotiate CLIENT_DEPRECATE_EOF (mysql2 does not), so the column
 * definitions and the rows each end with an EOF packet.
 */
export class TextResultConverter {
  private phase = Phase.Head;
  private columnCount = 0;
  private readonly kinds: Uint8Array;
  private readonly keys: Buffer[];
  private readonly rowOverhead: number;
  private rows = 0;
  private sawExtraRow = false;
  /** A packet cut by the end of a chunk: its parts so far, their size, and its full size once known. */
  private carry: Buffer[] = [];
  private carryBytes = 0;
  /** Payloads of MAX_PACKET bytes waiting for the rest of their logical packet. */
  private continued: Buffer[] = [];
  /** The output buffer being filled, and how far. */
  private out: Buffer = EMPTY;
  private o = 0;
  /** Full output buffers not yet handed out. */
  private sealed: Buffer[] = [];

  constructor(
    columnNames: string[],
    private readonly encoding: TextResultEncoding,
  ) {
    this.kinds = new Uint8Array(columnNames.length);
    this.keys = columnNames.map((name, i) => Buffer.from(`${i === 0 ? "{" : ","}${JSON.stringify(name)}:`));
    this.rowOverhead = this.keys.reduce((sum, key) => sum + key.length, 0) + 2;
  }

  /** True once the result set's final EOF packet has been read. */
  get done(): boolean {
    return this.phase === Phase.Done;
  }

  /** JSON: true once a row beyond `limit` was seen (it was not written). */
  get truncated(): boolean {
    return this.sawExtraRow;
  }

  /** Output written but not yet handed out (see drain). */
  get pendingBytes(): number {
    return this.o;
  }

  /**
   * Reads the complete packets in the bytes read so far; returns the output buffers that
   * filled up meanwhile (often none: the rest waits for drain()). Throws on an error packet or
   * a malformed answer.
   */
  push(chunk: Buffer): Buffer[] {
    this.convertChunk(chunk);
    const full = this.sealed;
    this.sealed = [];
    return full;
  }

  /**
   * The output not yet handed out. A buffer less than half full is copied, and then filled
   * again from its start: a slow trickle of rows does not keep many mostly empty buffers alive.
   */
  drain(): Buffer {
    if (this.o === 0) return EMPTY;
    const written = this.out.subarray(0, this.o);
    if (this.o * 2 < this.out.length) {
      this.o = 0;
      return Buffer.from(written);
    }
    this.out = EMPTY;
    this.o = 0;
    return written;
  }

  private convertChunk(chunk: Buffer): void {
    let i = 0;
    if (this.carryBytes > 0) {
      i = this.completeCarry(chunk);
      if (i < 0) return;
    }
    while (i + 4 <= chunk.length && this.phase !== Phase.Done) {
      const length = (chunk[i] as number) | ((chunk[i + 1] as number) << 8) | ((chunk[i + 2] as number) << 16);
      if (i + 4 + length > chunk.length) break;
      this.packet(chunk, i + 4, i + 4 + length);
      i += 4 + length;
    }
    if (i < chunk.length && this.phase !== Phase.Done) {
      // Copied: the rest of the chunk may be a large buffer that would otherwise stay alive.
      this.carry = [Buffer.from(chunk.subarray(i))];
      this.carryBytes = chunk.length - i;
    }
  }

  /**
   * Adds the start of `chunk` to the packet cut by the previous chunk. Returns where in `chunk`
   * the packets after it begin, or -1 if the chunk ended before that packet did.
   */
  private completeCarry(chunk: Buffer): number {
    const header = this.carryBytes >= 4 ? (this.carry[0] as Buffer) : Buffer.concat([...this.carry, chunk.subarray(0, 4)]);
    if (header.length < 4) {
      this.carry = [header];
      this.carryBytes = header.length;
      return -1;
    }
    const total = 4 + ((header[0] as number) | ((header[1] as number) << 8) | ((header[2] as number) << 16));
    const take = Math.min(total - this.carryBytes, chunk.length);
    this.carryBytes += take;
    if (this.carryBytes < total) {
      // Kept past this chunk: copied, as the rest of a chunk is (see convertChunk).
      this.carry.push(Buffer.from(chunk.subarray(0, take)));
      // Only a part too short to hold the header is joined at once; a long value's parts are joined once, when complete.
      if ((this.carry[0] as Buffer).length < 4) this.carry = [Buffer.concat(this.carry, this.carryBytes)];
      return -1;
    }
    this.carry.push(chunk.subarray(0, take));
    const packet = Buffer.concat(this.carry, total);
    this.carry = [];
    this.carryBytes = 0;
    this.packet(packet, 4, total);
    return take;
  }

  /** The response has ended: anything left over means it was cut short. */
  end(): void {
    if (this.phase !== Phase.Done) throw new RemoteStepError("mysql", "MySQL's answer ended before its last row");
  }

  private packet(buffer: Buffer, start: number, end: number): void {
    if (end - start === MAX_PACKET) {
      this.continued.push(Buffer.from(buffer.subarray(start, end)));
      return;
    }
    if (this.continued.length > 0) {
      const whole = Buffer.concat([...this.continued, buffer.subarray(start, end)]);
      this.continued = [];
      this.packet(whole, 0, whole.length);
      return;
    }
    const first = buffer[start];
    if (first === ERR_PACKET) throw errorFromPacket(buffer, start, end);
    switch (this.phase) {
      case Phase.Head: {
        const count = readLengthEncoded(buffer, start);
        if (count.value !== this.kinds.length) {
          throw new RemoteStepError("mysql", `MySQL answered with ${count.value} columns where the table has ${this.kinds.length}`);
        }
        this.phase = count.value === 0 ? Phase.ColumnsEnd : Phase.Columns;
        return;
      }
      case Phase.Columns: {
        const tail = end - FIXED_TAIL;
        if (tail <= start || buffer[tail] !== 0x0c) throw new RemoteStepError("mysql", "MySQL sent a column definition this service does not understand");
        const characterSet = buffer.readUInt16LE(tail + 1);
        const type = buffer[tail + 7] as number;
        this.kinds[this.columnCount] = KIND_CODES[cellKind(type, characterSet)];
        this.columnCount++;
        if (this.columnCount === this.kinds.length) this.phase = Phase.ColumnsEnd;
        return;
      }
      case Phase.ColumnsEnd:
        if (first !== EOF_PACKET || end - start >= 9) throw new RemoteStepError("mysql", "MySQL sent more column definitions than the table has columns");
        this.phase = Phase.Rows;
        return;
      case Phase.Rows:
        // A row that begins with 0xfe (an 8-byte length) is at least 9 bytes long; the EOF is shorter.
        if (first === EOF_PACKET && end - start < 9) {
          this.phase = Phase.Done;
          return;
        }
        this.rows++;
        if (this.encoding.kind === "json") {
          if (this.rows > this.encoding.limit) {
            this.sawExtraRow = true;
            return;
          }
          this.jsonRow(buffer, start, end);
        } else {
          this.csvRow(buffer, start, end);
        }
        return;
      default:
        return;
    }
  }

  /** Room for `bytes` more output bytes: a buffer too full for them is sealed and a new one begun. */
  private reserve(bytes: number): Buffer {
    if (this.o + bytes > this.out.length) {
      if (this.o > 0) this.sealed.push(this.out.subarray(0, this.o));
      this.out = Buffer.allocUnsafe(Math.max(bytes, OUTPUT_BUFFER_BYTES));
      this.o = 0;
    }
    return this.out;
  }

  private jsonRow(input: Buffer, start: number, end: number): void {
    // Every input byte becomes at most 6 output bytes (a control character as \u00XX); a number
    // rewritten by JavaScript takes at most 24.
    const out = this.reserve((end - start) * 6 + this.rowOverhead + 32 * this.kinds.length);
    let o = this.o;
    if (this.rows > 1) out[o++] = COMMA;
    if (this.kinds.length === 0) out[o++] = OPEN;
    let i = start;
    for (let col = 0; col < this.kinds.length; col++) {
      const key = this.keys[col] as Buffer;
      for (let k = 0; k < key.length; k++) out[o++] = key[k] as number;
      const marker = input[i] as number;
      if (marker === LENENC_NULL) {
        NULL_JSON.copy(out, o);
        o += 4;
        i++;
        continue;
      }
      // Values under 251 bytes (nearly all) carry their length in one byte.
      const from = marker < LENENC_NULL ? i + 1 : lengthEncodedStart(input, i);
      const to = from + (marker < LENENC_NULL ? marker : readLengthEncoded(input, i).value);
      if (to > end) throw new RemoteStepError("mysql", "MySQL sent a row shorter than its values");
      switch (this.kinds[col]) {
        case KIND_NUMBER:
          if (isJsonNumber(input, from, to)) {
            for (let j = from; j < to; j++) out[o++] = input[j] as number;
          } else {
            // e.g. ZEROFILL's leading zeros: JavaScript reads it as before.
            o += out.write(JSON.stringify(Number(input.toString("latin1", from, to))), o, "latin1");
          }
          break;
        case KIND_HEX:
          out[o++] = QUOTE;
          out[o++] = DIGIT_0;
          out[o++] = 0x78;
          for (let j = from; j < to; j++) {
            const b = input[j] as number;
            out[o++] = HEX[b >> 4] as number;
            out[o++] = HEX[b & 15] as number;
          }
          out[o++] = QUOTE;
          break;
        default:
          out[o++] = QUOTE;
          for (let j = from; j < to; j++) {
            const b = input[j] as number;
            if (JSON_SPECIAL[b] === 0) {
              out[o++] = b;
              continue;
            }
            out[o++] = BACKSLASH;
            const short = JSON_ESCAPES.get(b);
            if (short !== undefined) {
              out[o++] = short;
            } else {
              out[o++] = 0x75;
              out[o++] = DIGIT_0;
              out[o++] = DIGIT_0;
              out[o++] = HEX[b >> 4] as number;
              out[o++] = HEX[b & 15] as number;
            }
          }
          out[o++] = QUOTE;
      }
      i = to;
    }
    if (i !== end) throw new RemoteStepError("mysql", "MySQL sent a row with more values than the table has columns");
    out[o++] = CLOSE;
    this.o = o;
  }

  private csvRow(input: Buffer, start: number, end: number): void {
    // Quoting at most doubles a field; a number rewritten by JavaScript takes at most 24 bytes.
    const out = this.reserve((end - start) * 2 + 32 * this.kinds.length + 2);
    let o = this.o;
    let i = start;
    for (let col = 0; col < this.kinds.length; col++) {
      if (col > 0) out[o++] = COMMA;
      const marker = input[i] as number;
      if (marker === LENENC_NULL) {
        i++;
        continue;
      }
      const from = marker < LENENC_NULL ? i + 1 : lengthEncodedStart(input, i);
      const to = from + (marker < LENENC_NULL ? marker : readLengthEncoded(input, i).value);
      if (to > end) throw new RemoteStepError("mysql", "MySQL sent a row shorter than its values");
      switch (this.kinds[col]) {
        case KIND_NUMBER:
          if (isPlainInteger(input, from, to)) {
            for (let j = from; j < to; j++) out[o++] = input[j] as number;
          } else {
            o += out.write(String(Number(input.toString("latin1", from, to))), o, "latin1");
          }
          break;
        case KIND_HEX:
          out[o++] = DIGIT_0;
          out[o++] = 0x78;
          for (let j = from; j < to; j++) {
            const b = input[j] as number;
            out[o++] = HEX[b >> 4] as number;
            out[o++] = HEX[b & 15] as number;
          }
          break;
        default: {
          let quoted = from === to;
          for (let j = from; j < to && !quoted; j++) quoted = CSV_SPECIAL[input[j] as number] === 1;
          if (!quoted) {
            input.copy(out, o, from, to);
            o += to - from;
            break;
          }
          out[o++] = QUOTE;
          for (let j = from; j < to; j++) {
            const b = input[j] as number;
            if (b === QUOTE) out[o++] = QUOTE;
            out[o++] = b;
          }
          out[o++] = QUOTE;
        }
      }
      i = to;
    }
    if (i !== end) throw new RemoteStepError("mysql", "MySQL sent a row with more values than the table has columns");
    out[o++] = NL;
    this.o = o;
  }
}

/** The COM_QUERY packet that asks for `sql`'s result set (sequence number 0). */
export function queryPacket(sql: string): Buffer {
  const body = Buffer.from(sql, "utf8");
  if (body.length + 1 >= MAX_PACKET) throw new RemoteStepError("mysql", "The query is too long for one packet");
  const packet = Buffer.allocUnsafe(5 + body.length);
  packet.writeUIntLE(body.length + 1, 0, 3);
  packet[3] = 0;
  packet[4] = 0x03;
  body.copy(packet, 5);
  return packet;
}

/** Where the value after the length-encoded integer at `at` begins. */
function lengthEncodedStart(buffer: Buffer, at: number): number {
  const first = buffer[at] as number;
  return at + (first < LENENC_NULL ? 1 : first === LENENC_2 ? 3 : first === LENENC_3 ? 4 : 9);
}

function readLengthEncoded(buffer: Buffer, at: number): { value: number; next: number } {
  const first = buffer[at] as number;
  if (first < LENENC_NULL) return { value: first, next: at + 1 };
  if (first === LENENC_2) return { value: buffer.readUInt16LE(at + 1), next: at + 3 };
  if (first === LENENC_3) return { value: buffer.readUIntLE(at + 1, 3), next: at + 4 };
  if (first === LENENC_8) return { value: buffer.readUInt32LE(at + 1) + buffer.readUInt32LE(at + 5) * 2 ** 32, next: at + 9 };
  throw new RemoteStepError("mysql", "MySQL sent a value this service does not understand");
}

/** `-?(0|[1-9][0-9]*)`: copied as it is, it means the same number to JSON and to JavaScript. */
function isPlainInteger(input: Buffer, from: number, to: number): boolean {
  let j = input[from] === MINUS ? from + 1 : from;
  if (j >= to || (input[j] === DIGIT_0 && to - j > 1) || to - j > 15) return false;
  for (; j < to; j++) {
    const b = input[j] as number;
    if (b < DIGIT_0 || b > DIGIT_9) return false;
  }
  return true;
}

/** JSON's number grammar; any text it accepts reads as the same double in JSON and in JavaScript's Number(). */
function isJsonNumber(input: Buffer, from: number, to: number): boolean {
  let j = input[from] === MINUS ? from + 1 : from;
  if (j >= to) return false;
  if (input[j] === DIGIT_0) j++;
  else {
    const begin = j;
    j = skipDigits(input, j, to);
    if (j === begin) return false;
  }
  if (j < to && input[j] === 0x2e) {
    const begin = ++j;
    j = skipDigits(input, j, to);
    if (j === begin) return false;
  }
  if (j < to && (input[j] === 0x65 || input[j] === 0x45)) {
    j++;
    if (input[j] === 0x2b || input[j] === MINUS) j++;
    const begin = j;
    j = skipDigits(input, j, to);
    if (j === begin) return false;
  }
  return j === to;
}

function skipDigits(input: Buffer, from: number, to: number): number {
  let j = from;
  while (j < to && (input[j] as number) >= DIGIT_0 && (input[j] as number) <= DIGIT_9) j++;
  return j;
}

function errorFromPacket(buffer: Buffer, start: number, end: number): Error {
  const code = end - start >= 3 ? buffer.readUInt16LE(start + 1) : 0;
  // ERR: 0xff, code(2), '#', SQL state(5), message.
  const textStart = buffer[start + 3] === 0x23 ? start + 9 : start + 3;
  const message = buffer.toString("utf8", Math.min(textStart, end), end);
  if (STATEMENT_TIMEOUT_CODES.has(code)) return new RemoteTimeoutError("MySQL stopped reading the table: it took longer than the statement time limit");
  return new RemoteStepError("mysql", `MySQL failed while sending the rows (${code}: ${message})`);
}
