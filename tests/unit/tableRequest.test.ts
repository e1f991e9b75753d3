import { describe, expect, test } from "bun:test";
import { csvRowsFormat, jsonRowsFormat } from "../../src/features/tables/tableFormats";
import { toTableRead } from "../../src/features/tables/tableRequest";
import { nameSql, tableDataSql, tablesListInDatabaseSql } from "../../src/postgres/tableQueries";

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
});
