CREATE TABLE "backup_daily" (
	"tenant_id" uuid NOT NULL,
	"day" date NOT NULL,
	"config_key" uuid NOT NULL,
	"server_id" uuid NOT NULL,
	"succeeded" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"bytes" double precision DEFAULT 0 NOT NULL,
	"seconds" double precision DEFAULT 0 NOT NULL,
	"timed" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "backup_daily_pkey" PRIMARY KEY("tenant_id","day","config_key","server_id")
);
--> statement-breakpoint
-- (status compared as text: on a fresh database every migration runs in one transaction, and the enum value
-- 'partial' added by an earlier one cannot be used as a value in that transaction.)
-- One backup row's part in its day's totals, added (sign 1) or taken away (sign -1). Running rows count nowhere yet.
CREATE FUNCTION backup_daily_apply(r backups, sign int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  ok int := (r.status = 'succeeded')::int;
  bad int := (r.status::text IN ('failed', 'partial'))::int;
  timed int := (r.status = 'succeeded' AND r.finished_at IS NOT NULL)::int;
BEGIN
  IF r.kind <> 'backup' OR (ok = 0 AND bad = 0) THEN
    RETURN;
  END IF;
  INSERT INTO backup_daily AS d (tenant_id, day, config_key, server_id, succeeded, failed, bytes, seconds, timed)
  VALUES (r.tenant_id, (r.started_at AT TIME ZONE 'UTC')::date,
          coalesce(r.config_id, '00000000-0000-0000-0000-000000000000'), r.server_id,
          sign * ok, sign * bad, sign * ok * coalesce(r.size_bytes, 0),
          sign * timed * coalesce(extract(epoch FROM r.finished_at - r.started_at), 0), sign * timed)
  ON CONFLICT (tenant_id, day, config_key, server_id) DO UPDATE SET
    succeeded = d.succeeded + excluded.succeeded, failed = d.failed + excluded.failed, bytes = d.bytes + excluded.bytes,
    seconds = d.seconds + excluded.seconds, timed = d.timed + excluded.timed;
END $$;
--> statement-breakpoint
CREATE FUNCTION backup_daily_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM backup_daily_apply(OLD, -1);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    PERFORM backup_daily_apply(NEW, 1);
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER backups_daily AFTER INSERT OR DELETE
  OR UPDATE OF status, size_bytes, started_at, finished_at, config_id, server_id, kind, tenant_id
  ON backups FOR EACH ROW EXECUTE FUNCTION backup_daily_trigger();
--> statement-breakpoint
-- The totals again from the rows: after this migration, and after a bulk load that bypassed triggers (the bench).
CREATE FUNCTION backup_daily_rebuild() RETURNS void LANGUAGE sql AS $$
  DELETE FROM backup_daily;
  INSERT INTO backup_daily (tenant_id, day, config_key, server_id, succeeded, failed, bytes, seconds, timed)
  SELECT tenant_id, (started_at AT TIME ZONE 'UTC')::date, coalesce(config_id, '00000000-0000-0000-0000-000000000000'),
         server_id,
         count(*) FILTER (WHERE status = 'succeeded'),
         count(*) FILTER (WHERE status::text IN ('failed', 'partial')),
         coalesce(sum(size_bytes) FILTER (WHERE status = 'succeeded'), 0),
         coalesce(sum(extract(epoch FROM finished_at - started_at))
           FILTER (WHERE status = 'succeeded' AND finished_at IS NOT NULL), 0),
         count(*) FILTER (WHERE status = 'succeeded' AND finished_at IS NOT NULL)
  FROM backups
  WHERE kind = 'backup' AND status::text IN ('succeeded', 'failed', 'partial')
  GROUP BY 1, 2, 3, 4;
$$;
--> statement-breakpoint
SELECT backup_daily_rebuild();
