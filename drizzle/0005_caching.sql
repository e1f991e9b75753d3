-- Creates `caching`, or adopts the one the previous implementation created with `drizzle-kit push`
-- (no migration history; a port unique across ALL machines and users, a nullable caching_type,
-- plaintext passwords that the service seals on first read). Idempotent; keeps every row.
CREATE TABLE IF NOT EXISTS "caching" (
	"id" serial PRIMARY KEY NOT NULL,
	"cache_name" varchar NOT NULL,
	"password" varchar NOT NULL,
	"host" varchar NOT NULL,
	"vps_id" integer NOT NULL,
	"user_id" integer NOT NULL,
	"port" integer NOT NULL,
	"caching_type" varchar DEFAULT 'redis',
	"status" varchar DEFAULT 'running' NOT NULL,
	"created_at" timestamp DEFAULT now() NOT NULL
);
--> statement-breakpoint
-- A port is unique per machine and address, not globally (see the index below).
ALTER TABLE "caching" DROP CONSTRAINT IF EXISTS "caching_port_unique";--> statement-breakpoint
-- The portal calls toLowerCase() on cachingType: never NULL.
UPDATE "caching" SET "caching_type" = 'redis' WHERE "caching_type" IS NULL;--> statement-breakpoint
ALTER TABLE "caching" ALTER COLUMN "caching_type" SET DEFAULT 'redis';--> statement-breakpoint
ALTER TABLE "caching" ALTER COLUMN "caching_type" SET NOT NULL;--> statement-breakpoint
-- Adopted rows have none: the previous implementation ran its servers without a unit.
ALTER TABLE "caching" ADD COLUMN IF NOT EXISTS "unit_instance" varchar;--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "caching_vps_id_host_port_key" ON "caching" USING btree ("vps_id","host","port");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "caching_user_id_id_idx" ON "caching" USING btree ("user_id","id");
