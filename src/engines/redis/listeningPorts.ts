/**
 * TCP ports in LISTEN state from the text of /proc/net/tcp and /proc/net/tcp6 (concatenated):
 * each line's second field is `<hex address>:<hex port>`, the fourth the state (0A = LISTEN).
 * Ascending, without duplicates.
 */
export function parseListeningPorts(procNetTcp: string): number[] {
  const ports = new Set<number>();
  for (const line of procNetTcp.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4 || fields[3] !== "0A") continue;
    const local = fields[1] ?? "";
    const colon = local.lastIndexOf(":");
    if (colon < 0) continue;
    const port = Number.parseInt(local.slice(colon + 1), 16);
    if (Number.isInteger(port) && port > 0 && port <= 65535) ports.add(port);
  }
  return [...ports].sort((a, b) => a - b);
}
