const COOKIE_NAME = "accessToken";

/**
 * The `accessToken` cookie's value from a `Cookie` header (the first one, as RFC 6265 parsers
 * do), quotes stripped and percent-decoding undone. Read here rather than through Elysia's
 * cookie jar: asking for `cookie` anywhere makes Elysia parse every cookie of every request of
 * every route, health probes included.
 */
export function accessTokenCookie(header: string | null): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(";")) {
    const equals = pair.indexOf("=");
    if (equals === -1 || pair.slice(0, equals).trim() !== COOKIE_NAME) continue;
    let value = pair.slice(equals + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  }
  return undefined;
}
