/** Reads the `@@` progress markers our remote scripts print (see remoteScripts.ts). */
export interface ScriptMarkers {
  lastStep: string | undefined;
  created: Set<string>;
  failure: string | undefined;
  missing: string | undefined;
  /** Why a script refused to change anything (`@@REFUSED reason`). */
  refused: string | undefined;
  result: Map<string, string>;
}

export function readMarkers(stdout: string): ScriptMarkers {
  const markers: ScriptMarkers = { lastStep: undefined, created: new Set(), failure: undefined, missing: undefined, refused: undefined, result: new Map() };
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("@@")) continue;
    const space = line.indexOf(" ");
    const tag = space === -1 ? line : line.slice(0, space);
    const rest = space === -1 ? "" : line.slice(space + 1).trim();
    if (tag === "@@STEP") markers.lastStep = rest;
    else if (tag === "@@CREATED") markers.created.add(rest);
    else if (tag === "@@FAIL") markers.failure = rest;
    else if (tag === "@@MISSING") markers.missing = rest;
    else if (tag === "@@REFUSED") markers.refused = rest;
    else if (tag === "@@RESULT") {
      const eq = rest.indexOf("=");
      if (eq > 0) markers.result.set(rest.slice(0, eq), rest.slice(eq + 1));
    }
  }
  return markers;
}

/** The text after a marker line such as `@@ROWS` up to the next `@@` marker line (or the end). */
export function sectionAfter(stdout: string, marker: string, nextMarker?: string): string | undefined {
  const start = stdout.startsWith(`${marker}\n`) ? 0 : stdout.indexOf(`\n${marker}\n`);
  if (start === -1) return undefined;
  const bodyStart = start === 0 ? marker.length + 1 : start + marker.length + 2;
  if (!nextMarker) return stdout.slice(bodyStart);
  const end = stdout.indexOf(`\n${nextMarker}\n`, bodyStart - 1);
  return end === -1 ? stdout.slice(bodyStart) : stdout.slice(bodyStart, end + 1);
}

/**
 * Cuts output arriving in chunks into complete lines, for reading markers as they come. Each
 * chunk is looked at once; a line longer than `maxLineChars` is no marker of ours and is
 * skipped up to its end rather than held.
 */
export class LineSplitter {
  private partial = "";
  private skipping = false;

  constructor(private readonly maxLineChars: number) {}

  push(chunk: string): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let end = chunk.indexOf("\n"); end !== -1; end = chunk.indexOf("\n", start)) {
      if (!this.skipping) lines.push(this.partial + chunk.slice(start, end));
      this.partial = "";
      this.skipping = false;
      start = end + 1;
    }
    if (!this.skipping) {
      this.partial += chunk.slice(start);
      if (this.partial.length > this.maxLineChars) {
        this.partial = "";
        this.skipping = true;
      }
    }
    return lines;
  }
}
