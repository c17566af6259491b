CREATE TABLE "run_triggers" (
	"run_id" text PRIMARY KEY NOT NULL,
	"tenant_id" uuid NOT NULL,
	"triggered_by" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
DROP INDEX "backups_run_database_key";--> statement-breakpoint
ALTER TABLE "backups" ADD COLUMN "triggered_by" text;--> statement-breakpoint
ALTER TABLE "run_triggers" ADD CONSTRAINT "run_triggers_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "backups_run_database_key" ON "backups" USING btree ("run_id","database");