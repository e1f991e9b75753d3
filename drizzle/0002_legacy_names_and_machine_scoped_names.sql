DROP INDEX "deployed_db_host_db_name_key";--> statement-breakpoint
DROP INDEX "deployed_db_host_username_idx";--> statement-breakpoint
ALTER TABLE "deployed_db" ADD COLUMN "legacy_names" boolean DEFAULT false NOT NULL;--> statement-breakpoint
-- Rows written by the previous implementation name a database and role it created unquoted
-- (folded to lower case on the machine). Every row this service deployed has its successful
-- deploy in audit_log (created by 0001, so empty when a production database is adopted);
-- every other row existing now came from the previous implementation.
UPDATE "deployed_db" AS d SET "legacy_names" = true
WHERE NOT EXISTS (
	SELECT 1 FROM "audit_log" AS a
	WHERE a."action" = 'deploy' AND a."outcome" = 'success'
		AND a."user_id" = d."user_id" AND a."machine_id" = d."vps_id" AND btrim(a."host") = btrim(d."host") AND a."db_name" = d."db_name"
);--> statement-breakpoint
CREATE UNIQUE INDEX "deployed_db_vps_id_host_db_name_key" ON "deployed_db" USING btree ("vps_id","host","db_name");
