import { describe, expect, test } from "bun:test";
import { InvalidRequestError } from "../../src/errors/appErrors";
import { csvRowsFormat, jsonRowsFormat } from "../../src/features/tables/tableFormats";
import { csvDisposition } from "../../src/features/tables/csvDisposition";
import { toTableRead } from "../../src/features/tables/tableRequest";
import { isCatalogName } from "../../src/engines/postgres/identifiers";
import { nameSql, tableDataSql, tablesListInDatabaseSql } from "../../src/engines/postgres/tableQueries";

describe("table requests", () => {
  test("JSON without limit is capped; CSV without limit is the whole table", () => {
    const json = toTableRead("shop", "orders", {}, 10_000);
    expect(json).toMatchObject({ format: "json", limit: 10_000, offset: 0 });
    expect(json.query).toEqual({ dbName: "shop", schema: "public", table: "orders", orderBy: undefined, descending: false, limit: 10_000, offset: 0, format: "text" });
    const csv = toTableRead("shop", "orders", { format: "csv", schema: "sales", orderBy: "total", order: "desc", offset: 5 }, 10_000);
    expect(csv.query).toEqual({ dbName: "shop", schema: "sales", table: "orders", orderBy: "total", descending: true, limit: undefined, offset: 5, format: "csv" });
    expect(toTableRead("shop", "orders", { limit: 50_000 }, 10).query.limit).toBe(50_000);
  });

  test("JSON pages: one extra row means truncated and is left out", () => {
    const page = (lines: string[], limit: number) => {
      const format = jsonRowsFormat({ columns: [{ name: "id", type: "integer", kind: "integer" }], limit, offset: 0, estimatedTotal: null });
      const parts = [format.head, ...lines.map((line) => format.chunk(Buffer.from(line + "\n"))), format.tail()];
      return JSON.parse(Buffer.concat(parts).toString()) as { data: unknown[]; truncated: boolean; estimatedTotal: unknown; columns: unknown };
    };
    expect(page(["1", "2", "3"], 2)).toMatchObject({ data: [{ id: 1 }, { id: 2 }], truncated: true, estimatedTotal: null, columns: [{ name: "id", type: "integer" }] });
    expect(page(["1", "2"], 2)).toMatchObject({ data: [{ id: 1 }, { id: 2 }], truncated: false });
    expect(page([], 2)).toMatchObject({ data: [], truncated: false });
    expect(csvRowsFormat().chunk(Buffer.from('a,"b\nc"\n')).toString()).toBe('a,"b\nc"\n');
  });

  test("JSON pages in key order end with the last row's key as nextAfter, exactly as its cells; null when nothing follows", () => {
    const columns = [
      { name: "label", type: "text", kind: "text" as const },
      { name: "id", type: "integer", kind: "integer" as const },
    ];
    const page = (chunks: string[], limit: number, keyColumns?: number[]) => {
      const format = jsonRowsFormat({ columns, limit, offset: 0, estimatedTotal: null, keyColumns });
      const parts = [format.head, ...chunks.map((chunk) => format.chunk(Buffer.from(chunk))), format.tail()];
      return JSON.parse(Buffer.concat(parts).toString()) as { data: unknown[]; truncated: boolean; nextAfter: unknown };
    };
    // Rows cut across chunks; the key is (id, label).
    const rows = ["a\\tb\t1\nq\"", "x\t2\nlast\t3\n"];
    expect(page(rows, 2, [1, 0])).toMatchObject({ truncated: true, nextAfter: [2, 'q"x'] });
    expect(page(rows, 3, [1, 0])).toMatchObject({ truncated: false, nextAfter: null });
    expect(page(rows, 2)).toMatchObject({ truncated: true, nextAfter: null });
    expect(page(["a\\tb\t1\n", "b\t2\n"], 1, [0])).toMatchObject({ data: [{ label: "a\tb", id: 1 }], nextAfter: ["a\tb"] });
  });

  test("browsing scripts check what they use and fetch limit + 1 rows for JSON", () => {
    const base = { dbName: "shop", schema: "public", table: "orders", descending: false, offset: 0 } as const;
    expect(tablesListInDatabaseSql("sales")).toContain("\\echo @@MISSING schema");
    const text = tableDataSql({ ...base, limit: 10, format: "text", orderBy: "total", descending: true, offset: 20 });
    expect(text).toContain("\\echo @@MISSING table");
    expect(text).toContain("\\echo @@MISSING column");
    expect(text).toContain("\\echo @@MISSING ordering");
    expect(text).toContain(nameSql("orders"));
    expect(text).toContain("' LIMIT 11 OFFSET 20'");
    expect(text).toContain(`pg_catalog.format('%I DESC', ${nameSql("total")})`);
    expect(text).toContain("SET default_transaction_read_only = on;");
    const csv = tableDataSql({ ...base, format: "csv" });
    expect(csv).not.toContain("@@MISSING column");
    expect(csv).not.toContain("@@COLUMNS");
    expect(csv).not.toContain("LIMIT");
    expect(csv).toContain("WITH (FORMAT csv, HEADER)");
  });

  test("names of schemas, tables and columns never appear as text in a script", () => {
    const hostile = { schema: "s:'zsl_select'", table: "x\\! touch /tmp/p", orderBy: 'c"; \\gexec' };
    const script = tableDataSql({ dbName: "shop", ...hostile, descending: false, offset: 0, format: "text" });
    for (const name of Object.values(hostile)) expect(script).not.toContain(name);
    expect(script).not.toContain("touch");
    expect(script).toContain(nameSql(hostile.table));
    expect(tablesListInDatabaseSql(hostile.schema)).not.toContain("zsl_select'");
  });

  test("catalog names: 1 to 63 bytes, no NUL; CSV file names survive any table name", () => {
    expect(["my-table", "with space", "a.b", "naïve", "x\\!", ":zsl", "q'\"", "é".repeat(31)].every(isCatalogName)).toBe(true);
    expect(["", "a\u0000b", "é".repeat(32), "a".repeat(64)].some(isCatalogName)).toBe(false);
    expect(csvDisposition("orders")).toBe(`attachment; filename="orders.csv"; filename*=UTF-8''orders.csv`);
    const odd = csvDisposition('naïve "x"\r\nSet-Cookie: a=b');
    expect(odd).not.toMatch(/[\r\n]/);
    expect(odd.startsWith('attachment; filename="na_ve__x___Set-Cookie__a_b.csv"; filename*=UTF-8\'\'')).toBe(true);
    expect(decodeURIComponent(odd.split("UTF-8''")[1] ?? "")).toBe('naïve "x"\r\nSet-Cookie: a=b.csv');
  });

  test("keyset values travel hex-encoded like names, and after excludes orderBy and offset", () => {
    const hostile = ["x'); DROP TABLE t; --", ":'zsl_select' \\! touch /tmp/p"];
    const script = tableDataSql({ dbName: "shop", schema: "public", table: "t", descending: true, offset: 0, format: "text", after: hostile });
    for (const value of hostile) expect(script).not.toContain(value);
    expect(script).not.toContain("touch");
    expect(script).toContain("OPERATOR(pg_catalog.<)");
    expect(script).toContain("@@MISSING after");
    expect(toTableRead("shop", "t", { after: [5, "x", true] }, 100).query.after).toEqual(["5", "x", "true"]);
    expect(() => toTableRead("shop", "t", { after: [5], orderBy: "n" }, 100)).toThrow(InvalidRequestError);
    expect(() => toTableRead("shop", "t", { after: [5], offset: 10 }, 100)).toThrow(InvalidRequestError);
    expect(toTableRead("shop", "t", { after: [5], offset: 0 }, 100).query.offset).toBe(0);
  });
});
