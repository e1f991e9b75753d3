import { describe, expect, test } from "bun:test";
import { statementIndexAt } from "../../src/engines/postgres/statementIndex";

const at = (text: string, marker = "@") => statementIndexAt(text.replace(marker, " "), text.indexOf(marker) + 1);

describe("statementIndexAt", () => {
  test("counts statement-ending semicolons before the position", () => {
    expect(at("@SELECT 1")).toBe(1);
    expect(at("SELECT 1; @SELEC 2")).toBe(2);
    expect(at("SELECT 1;;; SELECT 2; @x")).toBe(5);
  });

  test("semicolons inside literals, identifiers, dollar quotes and comments do not count", () => {
    expect(at("SELECT 'a;b', \"c;d\"; @x")).toBe(2);
    expect(at("SELECT 'it''s;'; @x")).toBe(2);
    expect(at("SELECT E'\\';'; @x")).toBe(2);
    expect(at("SELECT $$ ; $$, $tag$ ;$$; $tag$; @x")).toBe(2);
    expect(at("-- a; b\nSELECT 1 /* c; /* nested; */ d; */; @x")).toBe(2);
    expect(at("SELECT a$b; @x")).toBe(2);
  });

  test("positions count characters, not UTF-16 units", () => {
    expect(at("SELECT '🐘'; @x")).toBe(2);
    expect(statementIndexAt("SELECT '🐘'; x", 13)).toBe(2);
    expect(statementIndexAt("SELECT '🐘'; x", 11)).toBe(1);
  });
});
