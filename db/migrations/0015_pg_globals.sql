ALTER TABLE "backup_configs" ADD COLUMN "globals" jsonb;--> statement-breakpoint
ALTER TABLE "restores" ADD COLUMN "globals_backup_id" uuid;--> statement-breakpoint
ALTER TABLE "restores" ADD CONSTRAINT "restores_globals_backup_id_backups_id_fk" FOREIGN KEY ("globals_backup_id") REFERENCES "public"."backups"("id") ON DELETE set null ON UPDATE no action;