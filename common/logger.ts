// One logger for every process: pino with the ECS format, so each line can go to Elasticsearch as it is.
import path from 'node:path';
import { ecsFormat } from '@elastic/ecs-pino-format';
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Keys that never reach a log line: at the top of the object logged and up to four levels down (three in what the call
 * gave, which may have been moved one level down, under `backup`).
 */
const SECRET_KEYS = [
  'password',
  'passwordHash',
  'secret',
  'token',
  'key',
  'siteKey',
  'authorization',
  'connectionString',
  'databaseUrl',
  'passphrase',
  'privateKey',
  'sasToken',
  'accountKey',
  'masterKey',
  'PGPASSWORD',
];

/**
 * Where a logger keeps its labels. Not in pino's child bindings: each child appends its bindings to the line as they
 * are, so a child with labels under a parent with labels wrote the key twice, and an ingest kept only the last.
 */
const LABELS = Symbol('labels');
type Labelled = Logger & { [LABELS]?: Record<string, string> };

export function createLogger(service: string, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    ...ecsFormat({ serviceName: service, apmIntegration: false, convertErr: true }),
    level: process.env.LOG_LEVEL ?? 'info',
    // One `labels` object a line: the logger's labels with the call's own on top, every value a keyword (a string).
    mixin: (_obj, _level, logger) => ({ labels: (logger as Labelled)[LABELS] }),
    mixinMergeStrategy: (merge: object, mixin: { labels?: object }) => {
      const obj = merge as Record<string, unknown>;
      const labels = keywords({ ...mixin.labels, ...(obj.labels as object) });
      return ecsShaped(Object.keys(labels).length ? { ...obj, labels } : without(obj, 'labels'));
    },
    onChild: (child) => {
      if ('labels' in child.bindings())
        throw new Error('labels given as pino child bindings would repeat the key: use withRunLabels(logger, labels)');
    },
    redact: {
      paths: SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`, `*.*.*.*.${k}`]),
      censor: '[redacted]',
    },
  };
  return pino(options, destination ?? defaultDestination(service));
}

/**
 * Standard output, or LOG_FILE, or LOG_DIR/<service>.log (e.g. /var/log/backup-platform/backup-api.log). Rotation is
 * logrotate's (ops/elk/logrotate.conf): it renames the file and sends SIGHUP, and the process opens the file anew;
 * Filebeat follows a renamed file to its end, so no line is lost. Either way written asynchronously: lines that come
 * while a write is under way go out together in the next one, and pino writes what is left when the process exits.
 */
function defaultDestination(service: string): DestinationStream {
  const file = process.env.LOG_FILE || (process.env.LOG_DIR && path.join(process.env.LOG_DIR, `${service}.log`));
  if (!file) return pino.destination({ dest: 1, sync: false });
  const dest = pino.destination({ dest: file, sync: false, mkdir: true });
  process.on('SIGHUP', () => dest.reopen());
  return dest;
}

/** ECS has no fields for Temporal; `labels` is its place for flat custom keywords, searchable in Kibana. */
export interface RunLabels {
  workflow_id?: string;
  run_id?: string;
  activity?: string;
  attempt?: number;
  task_queue?: string;
  tenant_id?: string;
  site_id?: string;
  server?: string;
  database?: string;
  config_id?: string;
  target?: string;
}

/** A child logger whose lines carry its parent's labels and these (these win on the same key). */
export function withRunLabels(logger: Logger, labels: RunLabels | Record<string, string | number | undefined>): Logger {
  const child = logger.child({}) as Labelled;
  child[LABELS] = keywords({ ...(logger as Labelled)[LABELS], ...labels });
  return child;
}

/**
 * The top-level names a line may use as they are: ECS field sets (ops/elk/ecs-fields.json lists the fields) and pino's
 * `err`, which the ECS format turns into `error.*`. A platform measure logged under another name (raw_bytes,
 * rows_removed, …) goes under `backup.*`, the platform's custom namespace, so no field outside ECS sits at the top.
 */
const ECS_TOP = new Set(['labels', 'err', 'error', 'event', 'file', 'http', 'url', 'user', 'service', 'host', 'log']);

function ecsShaped(obj: Record<string, unknown>): Record<string, unknown> {
  const custom = Object.keys(obj).filter((k) => !ECS_TOP.has(k));
  if (custom.length === 0) return obj;
  const out: Record<string, unknown> = { backup: {} };
  for (const [k, v] of Object.entries(obj)) (ECS_TOP.has(k) ? out : (out.backup as Record<string, unknown>))[k] = v;
  return out;
}

/** ECS labels are flat keywords: undefined dropped, numbers and booleans as text. */
function keywords(labels: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels))
    if (v !== undefined && v !== null)
      out[k] = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return out;
}

function without(obj: Record<string, unknown>, key: string): Record<string, unknown> {
  return key in obj ? Object.fromEntries(Object.entries(obj).filter(([k]) => k !== key)) : obj;
}
