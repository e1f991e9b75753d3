import { describe, expect, test } from "bun:test";
import Papa from "papaparse";
import { CsvFormulaGuard } from "../../src/engines/postgres/csvFormulaGuard";

/** Feeds `csv` to a fresh guard in pieces cut at `cuts` (byte offsets) and joins what comes out. */
function guarded(csv: string, cuts: number[] = []): string {
  const bytes = Buffer.from(csv);
  const guard = new CsvFormulaGuard();
  const out: Uint8Array[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(guard.push(bytes.subarray(from, cut)));
    from = cut;
  }
  return Buffer.concat(out).toString();
}

const cells = (csv: string) => Papa.parse<string[]>(csv, { newline: "\n" }).data;

describe("CSV formula neutralisation", () => {
  test("a value beginning with = + - @ tab or CR gets a leading apostrophe, quoted or not", () => {
    expect(guarded("=1+1,+1,-1,@SUM(A1),\tx,plain\n")).toBe("'=1+1,'+1,'-1,'@SUM(A1),'\tx,plain\n");
    expect(guarded('"=HYPERLINK(""http://x"")","\rb","a,=b"\n')).toBe('"\'=HYPERLINK(""http://x"")","\'\rb","a,=b"\n');
  });

  test("only the start of a value counts: not inside it, not after an escaped quote, not NULL or empty", () => {
    expect(guarded('a=b,"x\n=y","""=z",,""\n')).toBe('a=b,"x\n=y","""=z",,""\n');
    expect(guarded("name,-\n")).toBe("name,'-\n");
  });

  test("a quoted value with newlines and commas does not confuse where the next row starts", () => {
    const csv = 'id,note\n1,"line one\n=not a start, still inside"\n2,=start\n';
    expect(cells(guarded(csv))).toEqual([["id", "note"], ["1", "line one\n=not a start, still inside"], ["2", "'=start"], [""]]);
  });

  test("the result is the same wherever the stream is cut, including between a quote and the value", () => {
    const csv = 'h1,"h,2"\n"=a","x""y",-3\n@b,"multi\nline",""\n"+c",\t,"""\n"\n=end,"\r"\n';
    const whole = guarded(csv);
    expect(cells(whole).slice(0, 5)).toEqual([
      ["h1", "h,2"],
      ["'=a", 'x"y', "'-3"],
      ["'@b", "multi\nline", ""],
      ["'+c", "'\t", '"\n'],
      ["'=end", "'\r"],
    ]);
    const length = Buffer.byteLength(csv);
    for (let cut = 0; cut <= length; cut++) expect(guarded(csv, [cut])).toBe(whole);
    for (let a = 0; a <= length; a += 3) for (let b = a; b <= length; b += 5) expect(guarded(csv, [a, b])).toBe(whole);
    // One byte at a time.
    expect(guarded(csv, Array.from({ length }, (_, i) => i))).toBe(whole);
  });

  test("a chunk with nothing to change is passed through as it is", () => {
    const chunk = Buffer.from('1,"a",b\n');
    expect(new CsvFormulaGuard().push(chunk)).toBe(chunk);
  });
});
