CREATE TABLE "backups" (
	"id" serial PRIMARY KEY NOT NULL,
	"database_id" integer NOT NULL,
	"user_id" integer NOT NULL,
	"machine_id" integer NOT NULL,
	"host" varchar(100) NOT NULL,
	"engine" varchar(16) NOT NULL,
	"db_name" varchar(63) NOT NULL,
	"role_name" varchar(63) NOT NULL,
	"file_name" varchar(200) NOT NULL,
	"path" varchar(500) NOT NULL,
	"size_bytes" bigint,
	"sha256" varchar(64),
	"status" varchar(16) NOT NULL,
	"error" varchar(500),
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE INDEX "backups_user_id_database_id_idx" ON "backups" USING btree ("user_id","database_id","id");--> statement-breakpoint
CREATE INDEX "backups_status_idx" ON "backups" USING btree ("status");