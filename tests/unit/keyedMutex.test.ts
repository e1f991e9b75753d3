import { describe, expect, test } from "bun:test";
import { KeyedMutex } from "../../src/shared/keyedMutex";

describe("KeyedMutex", () => {
  test("serialises work per key and runs other keys concurrently", async () => {
    const mutex = new KeyedMutex();
    const events: string[] = [];
    const job = (key: string, name: string, ms: number) =>
      mutex.run(key, async () => {
        events.push(`start ${name}`);
        await Bun.sleep(ms);
        events.push(`end ${name}`);
      });
    await Promise.all([job("a", "a1", 30), job("a", "a2", 1), job("b", "b1", 1)]);
    expect(events.indexOf("end a1")).toBeLessThan(events.indexOf("start a2"));
    expect(events.indexOf("start b1")).toBeLessThan(events.indexOf("end a1"));
  });

  test("a failing job releases the key", async () => {
    const mutex = new KeyedMutex();
    await expect(mutex.run("k", async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await mutex.run("k", async () => 5)).toBe(5);
  });
});
