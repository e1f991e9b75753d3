import { describe, expect, test } from "bun:test";
import { ConfigError, DEFAULT_TABLE_DATA_MAX_ROWS, loadConfig } from "../../src/config/env";

describe("TABLE_DATA_MAX_ROWS", () => {
  test("defaults to 10,000 and accepts 1..100000", () => {
    expect(DEFAULT_TABLE_DATA_MAX_ROWS).toBe(10_000);
    expect(loadConfig({}).tableDataMaxRows).toBe(10_000);
    expect(loadConfig({ TABLE_DATA_MAX_ROWS: "250" }).tableDataMaxRows).toBe(250);
    expect(loadConfig({ TABLE_DATA_MAX_ROWS: "100000" }).tableDataMaxRows).toBe(100_000);
  });

  test("anything else stops start-up naming the variable", () => {
    for (const value of ["0", "100001", "-5", "ten", "1.5"]) {
      expect(() => loadConfig({ TABLE_DATA_MAX_ROWS: value })).toThrow(ConfigError);
      try {
        loadConfig({ TABLE_DATA_MAX_ROWS: value });
      } catch (error) {
        expect((error as ConfigError).variable).toBe("TABLE_DATA_MAX_ROWS");
      }
    }
  });
});
