import { describe, expect, test } from "bun:test";
import { awaitFirstRows, readScriptHead } from "../../src/engines/postgres/scriptStream";
import { parseTableHead } from "../../src/engines/postgres/tableHead";

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield Buffer.from(part);
}

async function drain(iterator: AsyncIterator<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) parts.push(next.value);
  return Buffer.concat(parts).toString();
}

describe("script head", () => {
  test("columns, their kinds and the total; a column named like a marker stays a column", () => {
    const head = parseTableHead(["@@COLUMNS", "id\tinteger\t23", "@@MISSING table\ttext\t25", "big\tbigint\t20", "ok\tboolean\t16", "r\treal\t700", "@@RESULT total=12345"]);
    expect(head.missing).toBeUndefined();
    expect(head.estimatedTotal).toBe(12345);
    expect(head.columns).toEqual([
      { name: "id", type: "integer", kind: "integer" },
      { name: "@@MISSING table", type: "text", kind: "text" },
      { name: "big", type: "bigint", kind: "text" },
      { name: "ok", type: "boolean", kind: "boolean" },
      { name: "r", type: "real", kind: "float" },
    ]);
    expect(parseTableHead(["@@COLUMNS", "a\\tb\\nc\ttext\t25", "@@RESULT total="]).columns[0]?.name).toBe("a\tb\nc");
    expect(parseTableHead(["@@RESULT total="]).estimatedTotal).toBeNull();
    expect(parseTableHead(["@@RESULT backend=5433-123-0123456789abcdef0123456789abcdef"]).backendId).toBe("5433-123-0123456789abcdef0123456789abcdef");
    expect(parseTableHead(["@@RESULT backend=123-0123456789abcdef0123456789abcdef"]).backendId).toBeUndefined();
    expect(parseTableHead(["@@RESULT backend=123; DROP"]).backendId).toBeUndefined();
    expect(parseTableHead(["@@MISSING column"]).missing).toBe("column");
  });

  test("the head ends at @@ROWS even when it or a character is split across chunks; the rows pass untouched", async () => {
    const elephant = Buffer.from("🐘");
    const cut = readScriptHead(
      (async function* () {
        yield Buffer.from("@@COLUMNS\nn");
        yield elephant.subarray(0, 2);
        yield Buffer.concat([elephant.subarray(2), Buffer.from("\ttext\t25\n@@RO")]);
        yield Buffer.from("WS\n1\n");
        yield Buffer.from("2\n");
      })(),
    );
    const head = await cut;
    expect(head.lines).toEqual(["@@COLUMNS", "n🐘\ttext\t25"]);
    expect(await drain(head.rows as AsyncIterator<Buffer>)).toBe("1\n2\n");

    const first = await readScriptHead(chunks("@@ROWS\n", "", "a,b\n"));
    expect(first.lines).toEqual([]);
    const rows = await awaitFirstRows(first.rows as AsyncIterator<Buffer>);
    expect(rows.empty).toBe(false);
    expect(await drain(rows.rows)).toBe("a,b\n");
  });

  test("a script that stops early has no rows; an empty result is told apart from rows", async () => {
    const stopped = await readScriptHead(chunks("@@MISSING table\n"));
    expect(stopped.rows).toBeUndefined();
    expect(stopped.lines).toEqual(["@@MISSING table"]);
    const empty = await readScriptHead(chunks("@@ROWS\n"));
    expect((await awaitFirstRows(empty.rows as AsyncIterator<Buffer>)).empty).toBe(true);
  });
});
