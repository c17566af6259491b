CREATE TABLE "restores" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"kind" text DEFAULT 'restore' NOT NULL,
	"backup_id" uuid,
	"config_id" uuid,
	"requested_by" uuid,
	"target_site_id" uuid NOT NULL,
	"target_server_id" uuid NOT NULL,
	"target_database" text NOT NULL,
	"overwrite" boolean DEFAULT false NOT NULL,
	"copy_target" text,
	"workflow_id" text NOT NULL,
	"status" "backup_status" NOT NULL,
	"error" text,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"restore_seconds" double precision,
	"raw_bytes" bigint,
	"checks" jsonb
);
--> statement-breakpoint
ALTER TABLE "backup_configs" ADD COLUMN "verification" jsonb;--> statement-breakpoint
ALTER TABLE "backup_configs" ADD COLUMN "drill" jsonb;--> statement-breakpoint
ALTER TABLE "backup_configs" ADD COLUMN "missed_alert_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "restores" ADD CONSTRAINT "restores_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "restores" ADD CONSTRAINT "restores_backup_id_backups_id_fk" FOREIGN KEY ("backup_id") REFERENCES "public"."backups"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "restores" ADD CONSTRAINT "restores_config_id_backup_configs_id_fk" FOREIGN KEY ("config_id") REFERENCES "public"."backup_configs"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "restores" ADD CONSTRAINT "restores_target_site_id_sites_id_fk" FOREIGN KEY ("target_site_id") REFERENCES "public"."sites"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "restores" ADD CONSTRAINT "restores_target_server_id_servers_id_fk" FOREIGN KEY ("target_server_id") REFERENCES "public"."servers"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "restores_tenant_started_idx" ON "restores" USING btree ("tenant_id","started_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "restores_config_idx" ON "restores" USING btree ("config_id","kind","started_at" DESC NULLS LAST);