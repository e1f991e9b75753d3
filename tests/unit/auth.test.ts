import { describe, expect, test } from "bun:test";
import jwt from "jsonwebtoken";
import { parseUserId, verifyAccessToken } from "../../src/auth/verifyAccessToken";

const secret = "a-secret-of-decent-length";
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("verifyAccessToken", () => {
  test("accepts HS256 tokens with string or numeric userId", () => {
    expect(verifyAccessToken(jwt.sign({ userId: "7" }, secret, { expiresIn: "15m" }), secret)).toBe(7);
    expect(verifyAccessToken(jwt.sign({ userId: 42 }, secret, { expiresIn: "15m" }), secret)).toBe(42);
  });

  test("a token without exp would never expire and is refused, cached verifier included", async () => {
    const forever = jwt.sign({ userId: "7" }, secret);
    expect(verifyAccessToken(forever, secret)).toBeNull();
    const { createTokenVerifier } = await import("../../src/auth/tokenVerifier");
    const verify = createTokenVerifier(secret);
    expect(verify(forever)).toBeNull();
    expect(verify(forever)).toBeNull();
  });

  test("rejects alg none, other algorithms, wrong secrets, expiry, nbf and missing userId", () => {
    const none = `${b64({ alg: "none", typ: "JWT" })}.${b64({ userId: "7" })}.`;
    expect(verifyAccessToken(none, secret)).toBeNull();
    expect(verifyAccessToken(jwt.sign({ userId: "7" }, secret, { algorithm: "HS512" }), secret)).toBeNull();
    expect(verifyAccessToken(jwt.sign({ userId: "7" }, "another-secret-entirely"), secret)).toBeNull();
    expect(verifyAccessToken(jwt.sign({ userId: "7", exp: Math.floor(Date.now() / 1000) - 10 }, secret), secret)).toBeNull();
    expect(verifyAccessToken(jwt.sign({ userId: "7" }, secret, { notBefore: "1h" }), secret)).toBeNull();
    expect(verifyAccessToken(jwt.sign({ sub: "7" }, secret), secret)).toBeNull();
    expect(verifyAccessToken("garbage", secret)).toBeNull();
  });

  test("userId must be a positive 32-bit integer", () => {
    expect(parseUserId("7")).toBe(7);
    expect(parseUserId(7)).toBe(7);
    for (const bad of ["abc", "0", "-1", "07", "1.5", 1.5, 0, -3, "99999999999", 2 ** 31, null, true, {}]) expect(parseUserId(bad)).toBeNull();
  });
});

describe("createTokenVerifier (cached)", () => {
  test("a remembered token still expires, and failures are not remembered", async () => {
    const { createTokenVerifier } = await import("../../src/auth/tokenVerifier");
    let clock = Date.now();
    const verify = createTokenVerifier(secret, 2, () => clock);
    const token = jwt.sign({ userId: "7", exp: Math.floor(clock / 1000) + 60 }, secret);
    expect(verify(token)).toBe(7);
    expect(verify(token)).toBe(7);
    clock += 61_000;
    expect(verify(token)).toBeNull();
    expect(verify("garbage")).toBeNull();
    const other = jwt.sign({ userId: 8 }, "another-secret-entirely");
    expect(verify(other)).toBeNull();
  });

  test("the cache is bounded", async () => {
    const { createTokenVerifier } = await import("../../src/auth/tokenVerifier");
    const verify = createTokenVerifier(secret, 2);
    const tokens = [1, 2, 3].map((id) => jwt.sign({ userId: id }, secret, { expiresIn: "15m" }));
    expect(tokens.map(verify)).toEqual([1, 2, 3]);
    expect(tokens.map(verify)).toEqual([1, 2, 3]);
  });
});

describe("authenticate (cookie and Authorization header)", () => {
  test("two valid tokens of different users are refused; the same user twice, or a stale cookie, are fine", async () => {
    const { authenticate } = await import("../../src/auth/checkAuth");
    const { createTokenVerifier } = await import("../../src/auth/tokenVerifier");
    const { AuthenticationError } = await import("../../src/errors/appErrors");
    const verify = createTokenVerifier(secret);
    const of = (userId: string) => jwt.sign({ userId }, secret, { expiresIn: "15m" });
    const expired = jwt.sign({ userId: "8", exp: Math.floor(Date.now() / 1000) - 10 }, secret);
    expect(() => authenticate(verify, of("7"), `Bearer ${of("8")}`)).toThrow(AuthenticationError);
    expect(authenticate(verify, of("7"), `Bearer ${of("7")}`)).toBe(7);
    expect(authenticate(verify, expired, `Bearer ${of("7")}`)).toBe(7);
    expect(authenticate(verify, of("7"), "Bearer garbage")).toBe(7);
    expect(authenticate(verify, undefined, `Bearer ${of("9")}`)).toBe(9);
    expect(() => authenticate(verify, undefined, null)).toThrow(AuthenticationError);
  });
});
