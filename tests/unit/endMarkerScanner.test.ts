import { describe, expect, test } from "bun:test";
import { EndMarkerScanner } from "../../src/engines/postgres/endMarkerScanner";

const MARKER = "@@END 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

/** Feeds `output` in chunks of the given sizes (cycled) and returns what was passed on and whether the marker was found. */
function scan(output: string, sizes: number[]): { passed: string; found: boolean } {
  const scanner = new EndMarkerScanner(MARKER);
  const bytes = Buffer.from(output);
  const parts: Buffer[] = [];
  let found = false;
  for (let at = 0, n = 0; at < bytes.length && !found; n++) {
    const size = sizes[n % sizes.length] as number;
    const result = scanner.push(bytes.subarray(at, at + size));
    parts.push(result.bytes);
    found = result.found;
    at += size;
  }
  if (!found) parts.push(scanner.rest());
  return { passed: Buffer.concat(parts).toString(), found };
}

describe("EndMarkerScanner", () => {
  const rows = "1\tAnn\n2\t@@END not-the-marker\n3\tx@@END " + MARKER.slice(6) + "\n";
  const cases: Array<[string, number[]]> = [
    ["one chunk", [100_000]],
    ["byte by byte", [1]],
    ["odd sizes", [3, 7, 1, 50]],
    ["marker-sized", [MARKER.length + 2]],
  ];
  for (const [name, sizes] of cases) {
    test(`passes every byte before the marker line and nothing after (${name})`, () => {
      expect(scan(`${rows}${MARKER}\nleftover\n`, sizes)).toEqual({ passed: rows, found: true });
      // A marker text inside a line is data, not the end.
      expect(scan(`${rows}no end here`, sizes)).toEqual({ passed: `${rows}no end here`, found: false });
      // A marker on the first line: an empty output.
      expect(scan(`${MARKER}\n`, sizes)).toEqual({ passed: "", found: true });
    });
  }

  test("complete lines are passed on at once; only an unfinished line that may become the marker waits", () => {
    const scanner = new EndMarkerScanner(MARKER);
    // A script's head before a slow query: nothing may wait for the next chunk.
    expect(scanner.push(Buffer.from("@@RESULT backend=1\n@@ROWS\n")).bytes.toString()).toBe("@@RESULT backend=1\n@@ROWS\n");
    expect(scanner.push(Buffer.from("1\tAnn\n2\tB")).bytes.toString()).toBe("1\tAnn\n2\tB");
    expect(scanner.push(Buffer.from("ob\n@@EN")).bytes.toString()).toBe("ob\n");
    expect(scanner.push(Buffer.from("D x\n")).bytes.toString()).toBe("@@END x\n");
    expect(scanner.push(Buffer.from(`${MARKER}\n`))).toEqual({ bytes: Buffer.alloc(0), found: true });
  });
});
