import { describe, expect, test } from "bun:test";
import { isReservedDatabase, isReservedRole, isValidIdentifier, quoteIdent, quoteLiteral } from "../../src/engines/postgres/identifiers";
import { quoteShell } from "../../src/engines/shell";

describe("identifiers", () => {
  test.each(["a", "_x", "Db_1", "a".repeat(63)])("accepts %p", (name) => {
    expect(isValidIdentifier(name)).toBe(true);
  });

  test.each(["", "1abc", "a-b", "a b", "a;b", "a$b", "a'b", 'a"b', "a\nb", "a\0b", "ａbc", "dé", "a".repeat(64), "$(id)", "`id`", "a||b"])(
    "rejects %p",
    (name) => {
      expect(isValidIdentifier(name)).toBe(false);
    },
  );

  test("reserved names", () => {
    expect(isReservedDatabase("postgres")).toBe(true);
    expect(isReservedDatabase("Template1")).toBe(true);
    expect(isReservedDatabase("shop")).toBe(false);
    expect(isReservedRole("postgres")).toBe(true);
    expect(isReservedRole("pg_monitor")).toBe(true);
    expect(isReservedRole("shop_user")).toBe(false);
  });

  test("quoting follows PostgreSQL and POSIX rules", () => {
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
    expect(quoteLiteral("it's \\ $x")).toBe("'it''s \\ $x'");
    expect(() => quoteLiteral("a\0b")).toThrow();
    expect(quoteShell("a'b")).toBe("'a'\\''b'");
  });
});
