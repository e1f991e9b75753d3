import { describe, expect, test } from "bun:test";
import { WindowCounter } from "../../src/http/windowCounter";

describe("WindowCounter (rate limits)", () => {
  test("counts per key within a window; a new window starts with the first request after it ends", () => {
    let now = 1_000;
    const counter = new WindowCounter(60_000, 100, () => now);
    expect(counter.increment("a")).toEqual({ count: 1, resetsAt: 61_000 });
    expect(counter.increment("a").count).toBe(2);
    expect(counter.increment("b").count).toBe(1);
    now = 60_999;
    expect(counter.increment("a")).toEqual({ count: 3, resetsAt: 61_000 });
    now = 61_000;
    expect(counter.increment("a")).toEqual({ count: 1, resetsAt: 121_000 });
  });

  test("holds at most maxKeys keys, dropping the longest unused", () => {
    const counter = new WindowCounter(60_000, 2, () => 0);
    counter.increment("a");
    counter.increment("b");
    counter.increment("a");
    counter.increment("c");
    expect(counter.increment("a").count).toBe(3);
    expect(counter.increment("b").count).toBe(1);
  });
});
