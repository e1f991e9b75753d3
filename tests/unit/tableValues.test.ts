import { describe, expect, test } from "bun:test";
import { decodeCell, decodeRows, parseCsv } from "../../src/postgres/tableValues";

describe("table values", () => {
  test("NULL and empty string stay distinct", () => {
    expect(decodeCell("", 25)).toBeNull();
    expect(decodeCell("v", 25)).toBe("");
  });

  test("types come from the catalog, text is never coerced", () => {
    expect(decodeCell("v007", 25)).toBe("007");
    expect(decodeCell("vtrue", 25)).toBe("true");
    expect(decodeCell("v1e3", 25)).toBe("1e3");
    expect(decodeCell("vtrue", 16)).toBe(true);
    expect(decodeCell("vfalse", 16)).toBe(false);
    expect(decodeCell("v42", 23)).toBe(42);
    expect(decodeCell("v9007199254740993", 20)).toBe("9007199254740993");
    expect(decodeCell("v1.5", 701)).toBe(1.5);
    expect(decodeCell("vNaN", 701)).toBe("NaN");
    expect(decodeCell("v-Infinity", 700)).toBe("-Infinity");
  });

  test("CSV keeps commas, quotes and newlines, and a lone NULL row", () => {
    expect(parseCsv('"va,b","v""q""","vline\nbreak"\n')).toEqual([["va,b", 'v"q"', "vline\nbreak"]]);
    const rows = decodeRows("\nvx\n", [{ name: "c", type: "text", baseTypeOid: 25 }]);
    expect(rows).toEqual([{ c: null }, { c: "x" }]);
  });

  test("a column called __proto__ is an ordinary key", () => {
    const [row] = decodeRows("vx\n", [{ name: "__proto__", type: "text", baseTypeOid: 25 }]);
    expect(Object.keys(row ?? {})).toEqual(["__proto__"]);
  });
});
