/**
 * The path of a request without building a URL object (`new URL` per request cost more than a
 * health probe's other hooks). `request.url` is always absolute here.
 */
export function requestPath(request: Request): string {
  const url = request.url;
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  const query = url.indexOf("?", start);
  return query === -1 ? url.slice(start) : url.slice(start, query);
}

/** Monitoring's probes (`/`, `/health`, `/health/ready`): never rate-limited, never logged when fine. */
export function isProbePath(path: string): boolean {
  return path === "/" || path === "/health" || path.startsWith("/health/");
}
