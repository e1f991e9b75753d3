import { describe, expect, test } from "bun:test";
import { RemoteStepError, RemoteTimeoutError } from "../../src/errors/appErrors";
import { queryPacket, TextResultConverter, type TextResultEncoding } from "../../src/engines/mysql/textResultConverter";

/**
 * The converter against result sets laid out byte for byte as MySQL's text protocol sends
 * them (the e2e tests read the same through a real MariaDB).
 */
const TYPE = { long: 3, double: 5, longlong: 8, varString: 253, blob: 252, bit: 16 };
const UTF8MB4 = 45;
const BINARY = 63;

function packet(sequence: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUIntLE(payload.length, 0, 3);
  header[3] = sequence & 0xff;
  return Buffer.concat([header, payload]);
}

function lengthEncoded(length: number): Buffer {
  if (length < 0xfb) return Buffer.from([length]);
  if (length < 0x10000) return Buffer.from([0xfc, length & 0xff, length >> 8]);
  if (length < 0x1000000) return Buffer.from([0xfd, length & 0xff, (length >> 8) & 0xff, length >> 16]);
  const value = Buffer.alloc(9);
  value[0] = 0xfe;
  value.writeUInt32LE(length, 1);
  return value;
}

const text = (value: string | Buffer) => {
  const bytes = typeof value === "string" ? Buffer.from(value) : value;
  return Buffer.concat([lengthEncoded(bytes.length), bytes]);
};

function columnDefinition(name: string, type: number, characterSet: number, extendedMetadata = false): Buffer {
  const fixed = Buffer.alloc(13);
  fixed[0] = 0x0c;
  fixed.writeUInt16LE(characterSet, 1);
  fixed.writeUInt32LE(255, 3);
  fixed[7] = type;
  return Buffer.concat([text("def"), text("db"), text("t"), text("t"), text(name), text(name), ...(extendedMetadata ? [text(Buffer.from([0, 4, 0x75, 0x75, 0x69, 0x64]))] : []), fixed]);
}

const EOF = Buffer.from([0xfe, 0, 0, 0x22, 0]);
type Cell = string | Buffer | null;

/** A whole COM_QUERY answer: column count, definitions, EOF, rows, EOF. Rows over 0xffffff bytes are split as MySQL splits them. */
function resultSet(columns: Array<{ name: string; type: number; characterSet: number }>, rows: Cell[][], options: { extendedMetadata?: boolean } = {}): Buffer {
  const packets: Buffer[] = [];
  let sequence = 1;
  packets.push(packet(sequence++, lengthEncoded(columns.length)));
  for (const column of columns) packets.push(packet(sequence++, columnDefinition(column.name, column.type, column.characterSet, options.extendedMetadata)));
  packets.push(packet(sequence++, EOF));
  for (const row of rows) {
    let payload = Buffer.concat(row.map((cell) => (cell === null ? Buffer.from([0xfb]) : text(cell))));
    for (;;) {
      const part = payload.subarray(0, 0xffffff);
      packets.push(packet(sequence++, part));
      payload = payload.subarray(part.length);
      if (part.length < 0xffffff) break;
    }
  }
  packets.push(packet(sequence++, EOF));
  return Buffer.concat(packets);
}

function convert(bytes: Buffer, names: string[], encoding: TextResultEncoding, chunkSize = bytes.length): { output: string; converter: TextResultConverter } {
  const converter = new TextResultConverter(names, encoding);
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length && !converter.done; at += chunkSize) {
    parts.push(...converter.push(bytes.subarray(at, at + chunkSize)));
    // Drained now and then, as a client asking for more makes the stream do.
    if (at % (chunkSize * 3) === 0) parts.push(converter.drain());
  }
  parts.push(converter.drain());
  converter.end();
  return { output: Buffer.concat(parts).toString("utf8"), converter };
}

const COLUMNS = [
  { name: "id", type: TYPE.long, characterSet: BINARY },
  { name: "s", type: TYPE.varString, characterSet: UTF8MB4 },
  { name: "big", type: TYPE.longlong, characterSet: BINARY },
  { name: "ratio", type: TYPE.double, characterSet: BINARY },
  { name: "bin", type: TYPE.varString, characterSet: BINARY },
  { name: "bits", type: TYPE.bit, characterSet: BINARY },
];
const NAMES = COLUMNS.map((column) => column.name);
const TRICKY = `tab\there\nnew\r"line", back\\slash \\N \u0001\u001f\u007f ü 😀`;
const ROWS: Cell[][] = [
  ["1", TRICKY, "9223372036854775807", "0.1", Buffer.from([0x00, 0x0a, 0x09, 0xff]), Buffer.from([0xa5])],
  ["-2", "NULL", "-1", "1e30", Buffer.alloc(0), null],
  ["3", null, null, null, null, null],
  ["0004", "", "0", "-1.5e-10", Buffer.from("\\N"), Buffer.from([0])],
];
const EXPECTED_JSON = [
  { id: 1, s: TRICKY, big: "9223372036854775807", ratio: 0.1, bin: "0x000a09ff", bits: "0xa5" },
  { id: -2, s: "NULL", big: "-1", ratio: 1e30, bin: "0x", bits: null },
  { id: 3, s: null, big: null, ratio: null, bin: null, bits: null },
  { id: 4, s: "", big: "0", ratio: -1.5e-10, bin: "0x5c4e", bits: "0x00" },
];

describe("TextResultConverter", () => {
  test("JSON: null only for SQL NULL, numbers and 0x-hex by column type, every byte of text intact", () => {
    const { output, converter } = convert(resultSet(COLUMNS, ROWS), NAMES, { kind: "json", limit: 10 });
    expect(JSON.parse(`[${output}]`)).toEqual(EXPECTED_JSON);
    expect(converter.truncated).toBe(false);
  });

  test("the same output whatever the chunks: cut at every byte, and in uneven pieces", () => {
    const bytes = resultSet(COLUMNS, ROWS);
    const whole = convert(bytes, NAMES, { kind: "json", limit: 10 }).output;
    for (const size of [1, 2, 3, 5, 7, 13, 64]) expect(convert(bytes, NAMES, { kind: "json", limit: 10 }, size).output).toBe(whole);
    const csv = convert(bytes, NAMES, { kind: "csv" }).output;
    for (const size of [1, 4, 9]) expect(convert(bytes, NAMES, { kind: "csv" }, size).output).toBe(csv);
  });

  test("output over many buffers (past 128 KiB) comes out whole and in order", () => {
    const many = Array.from({ length: 3000 }, (_, n) => ROWS[n % ROWS.length] as Cell[]);
    const bytes = resultSet(COLUMNS, many);
    const expected = Array.from({ length: 3000 }, (_, n) => EXPECTED_JSON[n % EXPECTED_JSON.length]);
    for (const size of [bytes.length, 8192, 1000]) {
      const { output } = convert(bytes, NAMES, { kind: "json", limit: 5000 }, size);
      expect(output.length).toBeGreaterThan(128 * 1024);
      expect(JSON.parse(`[${output}]`)).toEqual(expected);
    }
  });

  test("CSV as COPY writes it: NULL empty, '' quoted, separators and quotes quoted, numbers as JavaScript prints them", () => {
    const { output } = convert(resultSet(COLUMNS, ROWS), NAMES, { kind: "csv" });
    expect(output).toBe(
      [
        `1,"${TRICKY.replaceAll('"', '""')}",9223372036854775807,0.1,0x000a09ff,0xa5`,
        "-2,NULL,-1,1e+30,0x,",
        "3,,,,,",
        '4,"",0,-1.5e-10,0x5c4e,0x00',
        "",
      ].join("\n"),
    );
  });

  test("JSON page: rows past the limit are read but not written, and mark the page truncated", () => {
    const { output, converter } = convert(resultSet(COLUMNS, ROWS), NAMES, { kind: "json", limit: 2 });
    expect(JSON.parse(`[${output}]`)).toEqual(EXPECTED_JSON.slice(0, 2));
    expect(converter.truncated).toBe(true);
  });

  test("MariaDB's extended column metadata is skipped; an empty result set is an empty output", () => {
    const { output, converter } = convert(resultSet(COLUMNS, [ROWS[0] as Cell[]], { extendedMetadata: true }), NAMES, { kind: "json", limit: 10 });
    expect(JSON.parse(`[${output}]`)).toEqual([EXPECTED_JSON[0]]);
    const empty = convert(resultSet(COLUMNS, []), NAMES, { kind: "json", limit: 10 });
    expect(empty.output).toBe("");
    expect(empty.converter.done).toBe(true);
    expect(converter.done).toBe(true);
  });

  test("long values: 2-, 3- and 8-byte lengths, and a row split over several packets (over 16 MiB)", () => {
    const columns = [{ name: "v", type: TYPE.blob, characterSet: UTF8MB4 }];
    const values = ["a".repeat(300), "b\n".repeat(40_000), `${"c".repeat(17_000_000)}"`];
    const bytes = resultSet(columns, values.map((value) => [value]));
    const { output } = convert(bytes, ["v"], { kind: "json", limit: 10 }, 65_536);
    expect(JSON.parse(`[${output}]`)).toEqual(values.map((v) => ({ v })));
  });

  test("an error packet instead of rows fails the read with MySQL's message; a statement time limit is a timeout", () => {
    const error = (code: number, message: string) => {
      const payload = Buffer.concat([Buffer.from([0xff, code & 0xff, code >> 8]), Buffer.from(`#70100${message}`)]);
      return packet(5, payload);
    };
    const rowsThenError = (code: number) => {
      const complete = resultSet(COLUMNS, [ROWS[0] as Cell[]]);
      return Buffer.concat([complete.subarray(0, complete.length - 9), error(code, "Query execution was interrupted")]);
    };
    const converter = new TextResultConverter(NAMES, { kind: "csv" });
    expect(() => converter.push(rowsThenError(1317))).toThrow(RemoteStepError);
    expect(() => new TextResultConverter(NAMES, { kind: "csv" }).push(rowsThenError(1317))).toThrow("Query execution was interrupted");
    expect(() => new TextResultConverter(NAMES, { kind: "csv" }).push(rowsThenError(1969))).toThrow(RemoteTimeoutError);
  });

  test("an answer cut short, or with other columns than the table's, is refused", () => {
    const bytes = resultSet(COLUMNS, ROWS);
    const cut = new TextResultConverter(NAMES, { kind: "json", limit: 10 });
    cut.push(bytes.subarray(0, bytes.length - 3));
    expect(cut.done).toBe(false);
    expect(() => cut.end()).toThrow(RemoteStepError);
    expect(() => new TextResultConverter(["id"], { kind: "json", limit: 10 }).push(bytes)).toThrow("columns");
  });

  test("the query packet: length, sequence 0, COM_QUERY, the SQL as UTF-8", () => {
    const sql = "SELECT * FROM `tä` ORDER BY `id` ASC";
    const bytes = queryPacket(sql);
    expect(bytes.readUIntLE(0, 3)).toBe(Buffer.byteLength(sql) + 1);
    expect([...bytes.subarray(3, 5)]).toEqual([0, 3]);
    expect(bytes.subarray(5).toString("utf8")).toBe(sql);
  });
});

describe("the sessions whose channel is taken over", () => {
  test("never negotiate query attributes (a COM_QUERY would need two more fields) nor CLIENT_DEPRECATE_EOF (no EOF after the columns)", async () => {
    const { createConnection } = await import("mysql2");
    const { PassThrough } = await import("node:stream");
    const { SESSION_FLAGS } = await import("../../src/engines/mysql/mysqlReader");
    const connection = createConnection({ stream: new PassThrough(), user: "u", flags: SESSION_FLAGS });
    connection.on("error", () => undefined);
    const flags = (connection.config as unknown as { clientFlags: number }).clientFlags;
    connection.destroy();
    expect(flags & 0x08000000).toBe(0);
    expect(flags & 0x01000000).toBe(0);
    // The defaults would have it: the option is what removes it.
    const plain = createConnection({ stream: new PassThrough(), user: "u" });
    plain.on("error", () => undefined);
    expect((plain.config as unknown as { clientFlags: number }).clientFlags & 0x08000000).toBe(0x08000000);
    plain.destroy();
  });
});
