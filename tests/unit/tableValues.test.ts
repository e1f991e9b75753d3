import { describe, expect, test } from "bun:test";
import { CopyTextToJson } from "../../src/engines/postgres/copyToJson";
import { cellFromText, kindOfBaseType, type ColumnSpec } from "../../src/engines/postgres/tableValues";

/** COPY text rows (as PostgreSQL prints them) → the JSON rows the service sends. */
function rows(columns: ColumnSpec[], copy: string, chunkSize = Infinity, limit = 1_000): unknown[] {
  const converter = new CopyTextToJson(columns, limit);
  const bytes = Buffer.from(copy, "utf8");
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += Math.min(chunkSize, bytes.length)) out.push(converter.push(bytes.subarray(i, i + chunkSize)));
  converter.end();
  return JSON.parse(`[${Buffer.concat(out).toString("utf8")}]`) as unknown[];
}
const column = (oid: number): ColumnSpec[] => [{ name: "v", type: "t", kind: kindOfBaseType(oid) }];
const value = (field: string, oid: number) => (rows(column(oid), `${field}\n`)[0] as { v: unknown }).v;

describe("table values", () => {
  test("NULL is only \\N; an empty field is an empty string; a text saying \\N is text", () => {
    expect(value("\\N", 25)).toBeNull();
    expect(value("", 25)).toBe("");
    expect(value("\\\\N", 25)).toBe("\\N");
    expect(value("\\N", 16)).toBeNull();
    expect(value("\\N", 23)).toBeNull();
    expect(value("\\N", 701)).toBeNull();
  });

  test("types come from the catalog, text is never coerced", () => {
    expect(value("007", 25)).toBe("007");
    expect(value("true", 25)).toBe("true");
    expect(value("1e3", 1043)).toBe("1e3");
    expect(value("null", 25)).toBe("null");
    expect(value("t", 16)).toBe(true);
    expect(value("f", 16)).toBe(false);
    expect(value("-32768", 21)).toBe(-32768);
    expect(value("-2147483648", 23)).toBe(-2147483648);
    expect(value("9223372036854775807", 20)).toBe("9223372036854775807");
    expect(value("12345678901234567890.000000000000000000001", 1700)).toBe("12345678901234567890.000000000000000000001");
  });

  test("floats are numbers, except NaN and the infinities, spelled as PostgreSQL does", () => {
    expect(value("1.5", 701)).toBe(1.5);
    expect(value("1e+308", 701)).toBe(1e308);
    expect(value("5e-324", 701)).toBe(5e-324);
    expect(value("-0", 701)).toBe(-0);
    expect(value("3.4028235e+38", 700)).toBe(3.4028235e38);
    expect(value("NaN", 701)).toBe("NaN");
    expect(value("Infinity", 701)).toBe("Infinity");
    expect(value("-Infinity", 700)).toBe("-Infinity");
  });

  test("COPY escapes become the same characters in JSON", () => {
    expect(value("a\\tb\\nc\\rd\\\\e\\bf\\fg\\vh", 25)).toBe("a\tb\nc\rd\\e\bf\fg\vh");
    // An escaped backslash followed by a v is not a vertical tab.
    expect(value("x\\\\vy\\\\\\vz", 25)).toBe("x\\vy\\\vz");
    expect(value('"quoted", comma', 25)).toBe('"quoted", comma');
    expect(value("raw \u0001 and \u001f controls", 25)).toBe("raw \u0001 and \u001f controls");
    expect(value("ünï✓ 🐘 \u200b \u2028", 25)).toBe("ünï✓ 🐘 \u200b \u2028");
    expect(value("\\\\x00ff", 17)).toBe("\\x00ff");
  });

  test("rows become objects in column order, whatever the chunking, even inside a UTF-8 character", () => {
    const columns: ColumnSpec[] = [
      { name: "__proto__", type: "text", kind: "text" },
      { name: "n", type: "integer", kind: "integer" },
      { name: 'wé"ird\n', type: "boolean", kind: "boolean" },
      { name: "r", type: "real", kind: "float" },
    ];
    const copy = '🐘 "x"\t1\tt\t-Infinity\n\\N\t\\N\t\\N\t\\N\n\t-7\tf\t0.5\n';
    // As entries: in an object literal `__proto__` would set the prototype instead.
    const expected: Array<Array<[string, unknown]>> = [
      [["__proto__", '🐘 "x"'], ["n", 1], ['wé"ird\n', true], ["r", "-Infinity"]],
      [["__proto__", null], ["n", null], ['wé"ird\n', null], ["r", null]],
      [["__proto__", ""], ["n", -7], ['wé"ird\n', false], ["r", 0.5]],
    ];
    for (const size of [1, 2, 3, 7, 1000]) {
      const result = rows(columns, copy, size) as Array<Record<string, unknown>>;
      expect(result.map((row) => Object.entries(row))).toEqual(expected);
      expect(Object.getPrototypeOf(result[0])).toBe(Object.prototype);
    }
  });

  test("rows past the limit only mark the page truncated; malformed rows are errors", () => {
    const converter = new CopyTextToJson(column(23), 2);
    expect(JSON.parse(`[${converter.push(Buffer.from("1\n2\n3\n")).toString()}]`)).toEqual([{ v: 1 }, { v: 2 }]);
    expect(converter.truncated).toBe(true);
    expect(rows([], "\n\n")).toEqual([{}, {}]);
    const two: ColumnSpec[] = [...column(25), { name: "w", type: "t", kind: "text" }];
    expect(() => rows(two, "only one\n")).toThrow();
    expect(() => rows(two, "a\tb\tc\n")).toThrow();
    const cut = new CopyTextToJson(column(25), 10);
    cut.push(Buffer.from("a\nb"));
    expect(() => cut.end()).toThrow();
  });
});

describe("one rule for table data and the SQL editor", () => {
  test("cellFromText (values one by one) gives exactly what the COPY converter gives", () => {
    const samples: Array<[string, number]> = [
      ["t", 16], ["f", 16], ["-32768", 21], ["32767", 21], ["-2147483648", 23], ["0", 23],
      ["1.5", 700], ["NaN", 700], ["Infinity", 701], ["-Infinity", 701], ["-0", 701], ["1e+30", 701], ["5e-324", 701],
      ["9223372036854775807", 20], ["12.50", 1700], ["", 25], ["007", 25], ["null", 25], ['{"a": 1}', 3802], ["2024-02-29 13:45:06", 1114],
    ];
    for (const [text, oid] of samples) {
      expect(Object.is(cellFromText(kindOfBaseType(oid), text), value(text, oid))).toBe(true);
    }
    // SQL NULL: \\N in COPY text, null from pg.
    for (const oid of [16, 21, 23, 701, 25]) expect(cellFromText(kindOfBaseType(oid), null)).toBe(value("\\N", oid) as null);
  });
});
