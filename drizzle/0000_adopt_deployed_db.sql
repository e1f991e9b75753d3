-- Adopts a database created by the previous implementation with `drizzle-kit push`
-- (deployed_db present, no migration history): every statement is idempotent and keeps rows.
CREATE TABLE IF NOT EXISTS "deployed_db" (
	"id" serial PRIMARY KEY NOT NULL,
	"db_name" varchar NOT NULL,
	"username" varchar NOT NULL,
	"password" varchar NOT NULL,
	"host" varchar NOT NULL,
	"db_type" varchar NOT NULL,
	"vps_id" integer NOT NULL,
	"user_id" integer NOT NULL,
	"status" varchar NOT NULL,
	"created_at" timestamp DEFAULT now() NOT NULL
);
--> statement-breakpoint
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM "deployed_db" GROUP BY "host", "db_name" HAVING count(*) > 1) THEN
		RAISE EXCEPTION 'deployed_db has several rows for one (host, db_name); keep one per pair before migrating'
			USING HINT = 'SELECT host, db_name, array_agg(id) FROM deployed_db GROUP BY 1, 2 HAVING count(*) > 1';
	END IF;
END $$;
--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "deployed_db_host_db_name_key" ON "deployed_db" USING btree ("host","db_name");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "deployed_db_user_id_id_idx" ON "deployed_db" USING btree ("user_id","id");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "deployed_db_host_username_idx" ON "deployed_db" USING btree ("host","username");
