export interface ScannedChunk {
  /** Output that is certainly before the marker line, to pass on now. */
  bytes: Buffer;
  /** The marker line was complete in this chunk; nothing after it belongs to the output. */
  found: boolean;
}

const NL = 0x0a;
const EMPTY = Buffer.alloc(0);

/**
 * Finds an end-marker line (`marker\n` at the start of a line) in streamed output while
 * passing the output on as it comes. Only an unfinished last line that could still become
 * the marker is held back, so a line that ends a chunk (a script's `@@ROWS` before a slow
 * query) is passed on at once. Each byte is searched about once (linear in the output).
 * Unlike MarkerLineScanner, nothing before the marker is kept.
 */
export class EndMarkerScanner {
  private readonly line: Buffer;
  private readonly inner: Buffer;
  /** The start of an unfinished line that is a prefix of the marker line. */
  private held: Buffer = EMPTY;
  /** The next byte begins a line (true at the start of the output). */
  private lineStart = true;
  private found = false;

  constructor(marker: string) {
    this.line = Buffer.from(`${marker}\n`);
    this.inner = Buffer.from(`\n${marker}\n`);
  }

  push(chunk: Buffer): ScannedChunk {
    if (this.found) return { bytes: EMPTY, found: true };
    const data = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    const startsLine = this.held.length > 0 || this.lineStart;
    this.held = EMPTY;
    if (startsLine && data.length >= this.line.length && data.subarray(0, this.line.length).equals(this.line)) return this.end(EMPTY);
    const at = data.indexOf(this.inner);
    if (at !== -1) return this.end(data.subarray(0, at + 1));
    // Hold back the last line if it is unfinished and could still turn out to be the marker.
    const lastLine = data.lastIndexOf(NL) + 1;
    if (lastLine > 0 || startsLine) {
      const tail = data.subarray(lastLine);
      if (tail.length > 0 && tail.length < this.line.length && this.line.subarray(0, tail.length).equals(tail)) {
        this.held = Buffer.from(tail);
        this.lineStart = true;
        return { bytes: data.subarray(0, lastLine), found: false };
      }
    }
    if (data.length > 0) this.lineStart = data[data.length - 1] === NL;
    return { bytes: data, found: false };
  }

  /** What was held back when the output ended without the marker. */
  rest(): Buffer {
    const rest = this.held;
    this.held = EMPTY;
    return rest;
  }

  private end(before: Buffer): ScannedChunk {
    this.found = true;
    this.held = EMPTY;
    return { bytes: before, found: true };
  }
}
