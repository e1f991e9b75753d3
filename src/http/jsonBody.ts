import { PayloadTooLargeError } from "../errors/appErrors";

/**
 * Reads a request body as JSON, never holding more than `maxBytes` whatever the framing. A
 * declared Content-Length is checked up front (the server delivers no more than it declares);
 * a chunked body is counted as it arrives and abandoned past the limit.
 * An absent or empty body is `null` (a DELETE carries none); a malformed one throws SyntaxError,
 * which Elysia reports as a parse error.
 */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  if (!request.body) return null;
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    if (!(Number(declared) <= maxBytes)) throw new PayloadTooLargeError();
    const text = await request.text();
    return text === "" ? null : JSON.parse(text);
  }
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
