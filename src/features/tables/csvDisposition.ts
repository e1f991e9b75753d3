/**
 * `Content-Disposition` for a table's CSV download. A table name may hold quotes, line
 * breaks or any Unicode letter, none of which a quoted header value can carry: the plain
 * `filename` gets a safe ASCII stand-in, `filename*` (RFC 6266/8187) the exact name.
 */
export function csvDisposition(tableName: string): string {
  const ascii = tableName.replace(/[^A-Za-z0-9._-]/g, "_");
  const exact = encodeURIComponent(`${tableName}.csv`).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}.csv"; filename*=UTF-8''${exact}`;
}
