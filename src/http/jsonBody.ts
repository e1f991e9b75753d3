import { PayloadTooLargeError } from "../errors/appErrors";

/**
 * Reads a request body as JSON, counting bytes as they arrive and giving up at `maxBytes`
 * whatever the framing (Content-Length or chunked): an oversized body is never held whole.
 * An absent or empty body is `null` (a DELETE carries none); a malformed one throws SyntaxError,
 * which Elysia reports as a parse error.
 */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  if (!request.body) return null;
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      // Stop reading: the rest of the upload is left to the server to discard.
      await reader.cancel().catch(() => undefined);
      throw new PayloadTooLargeError();
    }
    chunks.push(value);
  }
  if (total === 0) return null;
  return JSON.parse(new TextDecoder().decode(Buffer.concat(chunks)));
}
