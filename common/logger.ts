// One logger for every process: pino with the ECS format, so each line can go to Elasticsearch as it is.
import { ecsFormat } from '@elastic/ecs-pino-format';
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Keys that never reach a log line: at the top of the object logged and up to three levels down. */
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

export function createLogger(service: string, destination?: DestinationStream): Logger {
  const options = {
    ...ecsFormat({ serviceName: service, apmIntegration: false, convertErr: true }),
    level: process.env.LOG_LEVEL ?? 'info',
    redact: { paths: SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]), censor: '[redacted]' },
  };
  // Standard output written asynchronously: lines that come while a write is under way go out together in the next
  // one, so a busy API does not make a system call per request; pino writes what is left when the process exits.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}

/** ECS has no fields for Temporal; `labels` is its place for flat custom keywords, searchable in Kibana. */
export interface RunLabels {
  workflow_id?: string;
  run_id?: string;
  activity?: string;
  attempt?: number;
  tenant_id?: string;
  site_id?: string;
  server?: string;
  database?: string;
  config_id?: string;
  target?: string;
}

export function withRunLabels(logger: Logger, labels: RunLabels): Logger {
  return logger.child({ labels });
}
