CREATE TABLE "object_mirror_runs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"mirror_id" uuid,
	"workflow_id" text NOT NULL,
	"run_id" text NOT NULL,
	"status" text NOT NULL,
	"fetched" integer DEFAULT 0 NOT NULL,
	"reused" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"superseded" integer DEFAULT 0 NOT NULL,
	"pruned" integer DEFAULT 0 NOT NULL,
	"deleted" integer DEFAULT 0 NOT NULL,
	"bytes" bigint DEFAULT 0 NOT NULL,
	"error" text,
	"started_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "object_mirror_versions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"mirror_id" uuid NOT NULL,
	"file_id" text NOT NULL,
	"bucket" text NOT NULL,
	"path" text NOT NULL,
	"version" integer NOT NULL,
	"state" text NOT NULL,
	"key" text,
	"source_bytes" bigint,
	"stored_bytes" bigint,
	"sha256" text,
	"failure" text,
	"error" text,
	"alerted_at" timestamp with time zone,
	"first_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"stored_at" timestamp with time zone,
	"removed_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "object_mirrors" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"server_id" uuid NOT NULL,
	"name" text NOT NULL,
	"database" text NOT NULL,
	"layout" jsonb NOT NULL,
	"poll_seconds" integer NOT NULL,
	"keep_versions" integer,
	"delete_grace_days" integer NOT NULL,
	"concurrency" integer NOT NULL,
	"max_bytes_per_second" bigint,
	"cursor" text,
	"delete_cursor" timestamp with time zone,
	"paused" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "object_mirror_runs" ADD CONSTRAINT "object_mirror_runs_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "object_mirror_runs" ADD CONSTRAINT "object_mirror_runs_mirror_id_object_mirrors_id_fk" FOREIGN KEY ("mirror_id") REFERENCES "public"."object_mirrors"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "object_mirror_versions" ADD CONSTRAINT "object_mirror_versions_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "object_mirror_versions" ADD CONSTRAINT "object_mirror_versions_mirror_id_object_mirrors_id_fk" FOREIGN KEY ("mirror_id") REFERENCES "public"."object_mirrors"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "object_mirrors" ADD CONSTRAINT "object_mirrors_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "object_mirrors" ADD CONSTRAINT "object_mirrors_server_id_servers_id_fk" FOREIGN KEY ("server_id") REFERENCES "public"."servers"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "object_mirror_runs_run_key" ON "object_mirror_runs" USING btree ("run_id");--> statement-breakpoint
CREATE INDEX "object_mirror_runs_mirror_idx" ON "object_mirror_runs" USING btree ("mirror_id","started_at" DESC NULLS LAST);--> statement-breakpoint
CREATE UNIQUE INDEX "object_mirror_versions_key" ON "object_mirror_versions" USING btree ("mirror_id","bucket","path","version");--> statement-breakpoint
CREATE INDEX "object_mirror_versions_state_idx" ON "object_mirror_versions" USING btree ("mirror_id","state");--> statement-breakpoint
CREATE UNIQUE INDEX "object_mirrors_tenant_name_key" ON "object_mirrors" USING btree ("tenant_id","name");