ALTER TABLE "copy_events" ADD COLUMN "activity_key" text;--> statement-breakpoint
CREATE UNIQUE INDEX "copy_events_activity_key" ON "copy_events" USING btree ("copy_id","event","activity_key");