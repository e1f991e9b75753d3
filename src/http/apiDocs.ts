import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import { requestPath } from "./probePaths";

export const API_DOCS_PATH = "/openapi";

/** Pinned so the page does not change under us; the page loads it from the CDN into the browser. */
const SCALAR_VERSION = "1.72.1";
const SCALAR_ORIGIN = "https://cdn.jsdelivr.net";

const DESCRIPTION = `Deploys and manages databases on Zyotra users' machines over SSH.

Authentication: every route except \`/\`, \`/health\`, \`/health/ready\` and this page needs the access
token issued by the auth service, as the \`accessToken\` cookie or an \`Authorization: Bearer\` header
(HS256 JWT with a \`userId\` claim and an \`exp\`). A missing, invalid or expired token is **419**, on
which the auth service refreshes the token. When the cookie and the header name different users the
request is refused (419).

Errors are \`{"message": "..."}\`; 5xx bodies also carry \`requestId\`, the same value as the
\`X-Request-Id\` header of every answer.`;

/**
 * The generated OpenAPI document (`/openapi/json`) and a browsable page (`/openapi`), built
 * from the routes' request and response models. The page is a script from a CDN, so it gets
 * its own, wider Content-Security-Policy than the API's `default-src 'none'`.
 */
export function apiDocs() {
  return new Elysia({ name: "apiDocs" })
    .onRequest(({ request, set }) => {
      if (requestPath(request) !== API_DOCS_PATH) return;
      set.headers["content-security-policy"] =
        `default-src 'none'; script-src ${SCALAR_ORIGIN}; style-src 'unsafe-inline' ${SCALAR_ORIGIN}; font-src ${SCALAR_ORIGIN} https://fonts.scalar.com; img-src data: https:; connect-src 'self'; frame-ancestors 'none'`;
    })
    .use(
      openapi({
        path: API_DOCS_PATH,
        scalar: { version: SCALAR_VERSION },
        documentation: {
          info: { title: "Zyotra Storage Layer", version: "1.0.0", description: DESCRIPTION },
          tags: [
            { name: "health", description: "Liveness and readiness, public" },
            { name: "databases", description: "PostgreSQL databases: deploy, list, delete" },
            { name: "tables", description: "Browse a database's tables" },
          ],
          components: {
            securitySchemes: {
              accessTokenCookie: { type: "apiKey", in: "cookie", name: "accessToken" },
              bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
            },
          },
          // Either scheme suffices; the health routes override this with none.
          security: [{ accessTokenCookie: [] }, { bearer: [] }],
        },
      }),
    );
}
