import { describe, expect, test } from "bun:test";
import { readTryingTwice } from "../../src/metadata/errors";

const closed = () => Object.assign(new Error("Connection closed"), { code: "ERR_POSTGRES_CONNECTION_CLOSED" });

describe("readTryingTwice", () => {
  test("a connection failing at once is tried once more", async () => {
    let calls = 0;
    const result = await readTryingTwice(async () => {
      calls++;
      if (calls === 1) throw closed();
      return "rows";
    });
    expect(result).toBe("rows");
    expect(calls).toBe(2);
  });

  test("a failure after a connect attempt's wait is not tried again (the outage answer would come twice as late)", async () => {
    let calls = 0;
    const attempt = readTryingTwice(async () => {
      calls++;
      await Bun.sleep(1_200);
      throw closed();
    });
    await expect(attempt).rejects.toThrow("Connection closed");
    expect(calls).toBe(1);
  });

  test("errors that are not connection failures are never retried", async () => {
    let calls = 0;
    const attempt = readTryingTwice(async () => {
      calls++;
      throw Object.assign(new Error("syntax"), { code: "42601" });
    });
    await expect(attempt).rejects.toThrow("syntax");
    expect(calls).toBe(1);
  });
});
