ALTER TABLE "backup_configs" ADD COLUMN "confirm_destructive_cleaning" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "backup_configs" ADD COLUMN "compression" jsonb DEFAULT '{"algorithm":"zstd","level":3}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "backup_configs" ADD COLUMN "encrypt" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "backups" ADD COLUMN "kind" text DEFAULT 'backup' NOT NULL;--> statement-breakpoint
ALTER TABLE "backups" ADD COLUMN "compression" text;--> statement-breakpoint
ALTER TABLE "backups" ADD COLUMN "encrypted" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "backups" ADD COLUMN "key_id" text;--> statement-breakpoint
ALTER TABLE "backups" ADD COLUMN "table_counts" jsonb;--> statement-breakpoint
ALTER TABLE "backups" ADD COLUMN "rows_removed" jsonb;--> statement-breakpoint
ALTER TABLE "backups" ADD COLUMN "report" jsonb;--> statement-breakpoint
ALTER TABLE "sites" ADD COLUMN "engines" text[];--> statement-breakpoint
ALTER TABLE "sites" ADD COLUMN "checked_in_at" timestamp with time zone;