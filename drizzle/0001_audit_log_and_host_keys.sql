CREATE TABLE "audit_log" (
	"id" serial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"user_id" integer NOT NULL,
	"action" varchar(32) NOT NULL,
	"machine_id" integer,
	"host" varchar(100),
	"db_name" varchar(63),
	"outcome" varchar(16) NOT NULL,
	"detail" varchar(200),
	"client_address" varchar(64),
	"request_id" varchar(64)
);
--> statement-breakpoint
CREATE TABLE "machine_host_keys" (
	"machine_id" integer NOT NULL,
	"host" varchar(100) NOT NULL,
	"fingerprint" varchar(100) NOT NULL,
	"pinned_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "machine_host_keys_machine_id_host_pk" PRIMARY KEY("machine_id","host")
);
--> statement-breakpoint
CREATE INDEX "audit_log_at_idx" ON "audit_log" USING btree ("at");--> statement-breakpoint
CREATE INDEX "audit_log_user_id_at_idx" ON "audit_log" USING btree ("user_id","at");