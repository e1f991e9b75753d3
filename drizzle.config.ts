import { defineConfig } from "drizzle-kit";

// Ops apply migrations with: STORAGE_LAYER_DATABASE_URL=... bunx drizzle-kit migrate
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/metadata/schema.ts",
  out: "./drizzle",
  dbCredentials: { url: process.env.STORAGE_LAYER_DATABASE_URL ?? "" },
});
