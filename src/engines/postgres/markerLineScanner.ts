import { RemoteOutputTooLargeError } from "../../errors/appErrors";

export interface MarkerSplit {
  /** Everything before the marker line (its last line keeps its newline). */
  before: Buffer;
  /** Whatever arrived after the marker line. */
  after: Buffer;
}

/**
 * Finds a marker line (`marker\n` at the start of a line) in output that arrives in chunks,
 * holding what came before it up to `maxBytes`. Each chunk is searched once, together with
 * the few bytes before it that a marker split across chunks needs, so the work is linear in
 * what arrives: a machine sending megabytes in small packets costs no more than one read.
 */
export class MarkerLineScanner {
  private readonly needle: Buffer;
  private readonly parts: Buffer[] = [];
  private size = 0;
  /**
   * The last needle-length-minus-one bytes of the output as if it began with a newline (so a
   * marker on the very first line is found like any other).
   */
  private carry: Buffer = Buffer.from("\n");
  /** Bytes searched so far; a linear scan keeps it near the bytes received. */
  scannedBytes = 0;

  constructor(
    marker: string,
    private readonly maxBytes: number,
  ) {
    this.needle = Buffer.from(`\n${marker}\n`);
  }

  /** All bytes received so far (when the output ended without the marker). */
  get received(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }

  /** Takes the next chunk; returns the split once the marker line is complete. Throws past the limit. */
  push(chunk: Buffer): MarkerSplit | undefined {
    const window = Buffer.concat([this.carry, chunk]);
    this.scannedBytes += window.length;
    const at = window.indexOf(this.needle);
    if (at !== -1) {
      // `at` is the newline ending the line before the marker; counted in the output as received
      // (without the leading virtual newline), the marker line starts right where it stands.
      const markerLineStart = this.size + 1 - this.carry.length + at;
      const all = Buffer.concat([...this.parts, chunk], this.size + chunk.length);
      return { before: all.subarray(0, markerLineStart), after: all.subarray(markerLineStart + this.needle.length - 1) };
    }
    this.size += chunk.length;
    if (this.size > this.maxBytes) throw new RemoteOutputTooLargeError();
    if (chunk.length > 0) this.parts.push(chunk);
    const keep = Math.min(this.needle.length - 1, window.length);
    this.carry = Buffer.from(window.subarray(window.length - keep));
    return undefined;
  }
}
