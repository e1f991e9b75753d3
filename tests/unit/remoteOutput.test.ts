import { describe, expect, test } from "bun:test";
import { RemoteOutputTooLargeError } from "../../src/errors/appErrors";
import { MarkerLineScanner } from "../../src/engines/postgres/markerLineScanner";
import { LineSplitter } from "../../src/engines/scriptOutput";
import { readScriptHead } from "../../src/engines/postgres/scriptStream";

/** Output from a machine arrives in pieces of any size; what reads it must stay linear and bounded. */
const MiB = 1024 * 1024;

function feed(scanner: MarkerLineScanner, text: string, chunkSize: number) {
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; at += chunkSize) {
    const split = scanner.push(bytes.subarray(at, at + chunkSize));
    // What follows the piece that completed the marker is the caller's to read on.
    if (split) return { before: split.before.toString(), after: split.after.toString() + bytes.subarray(at + chunkSize).toString() };
  }
  return undefined;
}

describe("marker line scanner", () => {
  test("finds the marker line at any split, at the start, and only at a line start", () => {
    const text = "one\ntwo x@@END\n@@END\nrest";
    for (let size = 1; size <= text.length; size++) {
      expect(feed(new MarkerLineScanner("@@END", 1024), text, size)).toEqual({ before: "one\ntwo x@@END\n", after: "rest" });
    }
    for (let size = 1; size <= 8; size++) expect(feed(new MarkerLineScanner("@@END", 1024), "@@END\nx", size)).toEqual({ before: "", after: "x" });
    expect(feed(new MarkerLineScanner("@@END", 1024), "a@@END\n@@ENDx\n", 3)).toBeUndefined();
  });

  test("16 MiB in 4 KiB pieces: each byte is searched about once", () => {
    const scanner = new MarkerLineScanner("@@END 5f0c", 32 * MiB);
    const line = "x".repeat(99) + "\n";
    const piece = Buffer.from(line.repeat(4096 / line.length) + "y".repeat(4096 % line.length));
    let pieces = 0;
    for (let size = 0; size < 16 * MiB; size += piece.length, pieces++) expect(scanner.push(piece)).toBeUndefined();
    const split = scanner.push(Buffer.from("\n@@END 5f0c\ntail"));
    expect(split?.before.length).toBe(pieces * piece.length + 1);
    expect(split?.after.toString()).toBe("tail");
    // A scan of the whole buffer per piece would have searched about pieces² × 2 KiB (32 GiB).
    expect(scanner.scannedBytes).toBeLessThan(16 * MiB + (pieces + 1) * 64);
  });

  test("past its limit it stops with RemoteOutputTooLargeError", () => {
    const scanner = new MarkerLineScanner("@@END", MiB);
    expect(() => {
      for (let i = 0; i < 32; i++) scanner.push(Buffer.alloc(64 * 1024, "x"));
    }).toThrow(RemoteOutputTooLargeError);
  });
});

describe("line splitter", () => {
  test("lines split across pieces come out whole; an overlong line is skipped, the next one kept", () => {
    const lines = new LineSplitter(16);
    const out = [..."@@STEP lo".split(""), "ck\n@@STEP de", "tect\n", "z".repeat(40), "zz\n@@STEP x\n"].flatMap((piece) => lines.push(piece));
    expect(out).toEqual(["@@STEP lock", "@@STEP detect", "@@STEP x"]);
  });
});

describe("streamed script head", () => {
  test("a head that never reaches @@ROWS is cut off with RemoteOutputTooLargeError (a 502), not a crash", async () => {
    async function* flood(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 1024; i++) yield Buffer.alloc(64 * 1024, "h");
    }
    await expect(readScriptHead(flood())).rejects.toBeInstanceOf(RemoteOutputTooLargeError);
  });
});
