ALTER TABLE "backups" ADD COLUMN "backup_type" text DEFAULT 'full' NOT NULL;--> statement-breakpoint
ALTER TABLE "backups" ADD COLUMN "base_backup_id" uuid;