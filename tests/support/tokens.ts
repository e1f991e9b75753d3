import jwt from "jsonwebtoken";

export const TEST_ACCESS_SECRET = "test-access-token-secret-0123456789";
export const TEST_ENCRYPTION_KEY = "test-encryption-key-0123456789abcdef";

export function tokenFor(userId: string | number, options: jwt.SignOptions = {}): string {
  return jwt.sign({ userId }, TEST_ACCESS_SECRET, { algorithm: "HS256", expiresIn: "15m", ...options });
}
