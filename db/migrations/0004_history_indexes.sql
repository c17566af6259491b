DROP INDEX "audit_tenant_at_idx";--> statement-breakpoint
DROP INDEX "backups_tenant_started_idx";--> statement-breakpoint
DROP INDEX "restores_tenant_started_idx";--> statement-breakpoint
DROP INDEX "restores_config_idx";--> statement-breakpoint
CREATE INDEX "backups_config_started_idx" ON "backups" USING btree ("config_id","started_at" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "audit_tenant_at_idx" ON "audit_log" USING btree ("tenant_id","at" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "backups_tenant_started_idx" ON "backups" USING btree ("tenant_id","started_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "restores_tenant_started_idx" ON "restores" USING btree ("tenant_id","started_at" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "restores_config_idx" ON "restores" USING btree ("config_id","kind","started_at" DESC NULLS FIRST);