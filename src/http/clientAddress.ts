import type { Server } from "bun";
import { Elysia } from "elysia";
import type { ProxySettings } from "../config/env";
import { isProbePath, requestPath } from "./probePaths";


const addressByRequest = new WeakMap<Request, string>();

/**
 * Each proxy appends the address it received the request from, so only the entries our own
 * proxies wrote can be believed: counting `hops` from the right. Anything to their left was
 * sent by the client and may be forged. A shorter list means fewer proxies were crossed, and
 * then every entry was written by one of ours.
 */
export function addressFromForwarded(header: string, hops: number): string | undefined {
  const entries = header.split(",").map((entry) => entry.trim()).filter(Boolean);
  return entries[Math.max(0, entries.length - hops)];
}

function resolveAddress(request: Request, server: Server<unknown> | null, proxy: ProxySettings): string | undefined {
  const forwarded = proxy.trustedProxyHeader ? request.headers.get(proxy.trustedProxyHeader) : null;
  return (forwarded ? addressFromForwarded(forwarded, proxy.trustedProxyHops ?? 1) : undefined) || server?.requestIP(request)?.address;
}

/** The client address as resolved when the request arrived (rate limits, audit trail). */
export function clientAddressOf(request: Request): string | undefined {
  return addressByRequest.get(request);
}

/** Resolves every request's client address once, before anything counts or records it. */
export function clientAddress(proxy: ProxySettings) {
  return new Elysia({ name: "clientAddress", seed: proxy }).onRequest(({ request, server }) => {
    // Nothing counts or records a probe's address (and resolving one is a native call per request).
    if (isProbePath(requestPath(request))) return;
    const address = resolveAddress(request, server, proxy);
    if (address) addressByRequest.set(request, address);
  });
}
