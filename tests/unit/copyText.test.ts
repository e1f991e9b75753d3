import { describe, expect, test } from "bun:test";
import { copyLines, splitCopyLine, unescapeCopyField } from "../../src/engines/postgres/copyText";

describe("COPY text format", () => {
  test("lines keep a last empty row; fields split on tabs; a zero-column row has no fields", () => {
    expect(copyLines("a\n\n")).toEqual(["a", ""]);
    expect(copyLines("")).toEqual([]);
    expect(splitCopyLine("a\t\tb", 3)).toEqual(["a", "", "b"]);
    expect(splitCopyLine("", 1)).toEqual([""]);
    expect(splitCopyLine("", 0)).toEqual([]);
  });

  test("escapes are undone; unknown escapes stand for themselves", () => {
    expect(unescapeCopyField("a\\tb\\nc\\\\n")).toBe("a\tb\nc\\n");
    expect(unescapeCopyField("\\q")).toBe("q");
    expect(unescapeCopyField("plain")).toBe("plain");
  });
});
