import { describe, expect, test } from "bun:test";
import { PayloadTooLargeError } from "../../src/errors/appErrors";
import { readJsonBody } from "../../src/http/jsonBody";

const LIMIT = 1024 * 1024;

/** A streamed (chunked) body of `chunks` × 64 KiB that counts what the reader pulled. */
function streamedRequest(chunks: number, fill = "x") {
  const pulled = { bytes: 0 };
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent++ >= chunks) return controller.close();
      const chunk = new TextEncoder().encode(fill.repeat(64 * 1024));
      pulled.bytes += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  return { request: new Request("http://x/", { method: "POST", body }), pulled };
}

describe("readJsonBody", () => {
  test("a streamed body over the limit is abandoned after about the limit, not read whole", async () => {
    const { request, pulled } = streamedRequest(2_400);
    expect(request.headers.get("content-length")).toBeNull();
    await expect(readJsonBody(request, LIMIT)).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect(pulled.bytes).toBeLessThan(LIMIT + 4 * 64 * 1024);
  });

  test("a declared length over the limit is refused before reading", async () => {
    const request = new Request("http://x/", { method: "POST", body: "{}", headers: { "content-length": String(LIMIT + 1) } });
    await expect(readJsonBody(request, LIMIT)).rejects.toBeInstanceOf(PayloadTooLargeError);
  });

  test("JSON within the limit parses; empty is null; malformed is a SyntaxError", async () => {
    expect(await readJsonBody(new Request("http://x/", { method: "POST", body: '{"a":1}' }), LIMIT)).toEqual({ a: 1 });
    const streamed = new Request("http://x/", { method: "POST", body: new Blob(['{"b":', "[2]}"]).stream() });
    expect(await readJsonBody(streamed, LIMIT)).toEqual({ b: [2] });
    expect(await readJsonBody(new Request("http://x/", { method: "DELETE" }), LIMIT)).toBeNull();
    expect(await readJsonBody(new Request("http://x/", { method: "POST", body: "" }), LIMIT)).toBeNull();
    await expect(readJsonBody(new Request("http://x/", { method: "POST", body: "{" }), LIMIT)).rejects.toBeInstanceOf(SyntaxError);
  });
});
