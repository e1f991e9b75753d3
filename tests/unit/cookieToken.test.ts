import { describe, expect, test } from "bun:test";
import { accessTokenCookie } from "../../src/auth/cookieToken";

describe("accessTokenCookie (read from the Cookie header, not Elysia's cookie jar)", () => {
  test("finds the token among other cookies, trimmed, unquoted and percent-decoded", () => {
    expect(accessTokenCookie("theme=dark; accessToken=a.b.c; other=1")).toBe("a.b.c");
    expect(accessTokenCookie('accessToken="a.b.c"')).toBe("a.b.c");
    expect(accessTokenCookie("accessToken=a%2Eb.c")).toBe("a.b.c");
    expect(accessTokenCookie("  accessToken =  a.b.c  ")).toBe("a.b.c");
  });

  test("the first of two wins; absent, empty or malformed headers give nothing usable", () => {
    expect(accessTokenCookie("accessToken=first; accessToken=second")).toBe("first");
    expect(accessTokenCookie(null)).toBeUndefined();
    expect(accessTokenCookie("")).toBeUndefined();
    expect(accessTokenCookie("xaccessToken=a; accessTokenx=b")).toBeUndefined();
    expect(accessTokenCookie("accessToken")).toBeUndefined();
    expect(accessTokenCookie("accessToken=%E0%A4%A")).toBe("%E0%A4%A");
  });
});
