// One place that reads process.env. Each process parses the part it needs once, at start, and a bad value
// stops it with a message that names the variable and what is wrong.
import { z } from 'zod';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

const seconds = (fallback: number) => z.coerce.number().positive().default(fallback);

const file = z.string().min(1).optional();
export const temporalEnv = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** TLS to Temporal: the CA to trust (the platform's own server makes one); `TEMPORAL_TLS=true` uses the system's. */
  TEMPORAL_TLS_CA_FILE: file,
  TEMPORAL_TLS: z.enum(['true', 'false']).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  /** A client certificate, for clusters that want mutual TLS (a company's cluster, Temporal Cloud with mTLS). */
  TEMPORAL_TLS_CERT_FILE: file,
  TEMPORAL_TLS_KEY_FILE: file,
  /** An API key for a cluster the project does not run (Temporal Cloud); read from a file, never logged. */
  TEMPORAL_API_KEY_FILE: file,
  /** The platform's signing key (API and central worker only): they sign their own short-lived tokens with it. */
  TEMPORAL_SIGNING_KEY_FILE: file,
});
export type TemporalEnv = z.infer<typeof temporalEnv>;

/** A worker's own /metrics listener, only when METRICS_PORT is set (0: any free port); on loopback by default. */
const metricsEnv = {
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
};

/** Seals notification channels' secrets; the API and the central worker must share it (common/channel-secrets.ts). */
const channelSecretEnv = { CHANNEL_SECRET_KEY: z.string().min(32, 'must be at least 32 characters').optional() };

export const databaseEnv = z.object({
  /** A PostgreSQL URL. When unset, an embedded PostgreSQL (PGlite) keeps its files in DATA_DIR. */
  DATABASE_URL: z.string().url().optional(),
  DATA_DIR: z.string().min(1).default('data'),
});
export type DatabaseEnv = z.infer<typeof databaseEnv>;

export const apiEnv = temporalEnv.extend(databaseEnv.shape).extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('127.0.0.1'),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  JWT_TTL_SECONDS: seconds(12 * 3600),
  /** How often every copy of every backup is read back and repaired (the `backup-sync` schedule). */
  SYNC_INTERVAL_HOURS: z.coerce.number().positive().default(6),
  /** How long a site worker's Temporal token lives: a rotated site key stops its old worker within this time. */
  /** `closed`: the public sign-up route refuses; accounts are made by an operator or a tenant's owner. */
  SIGNUP: z.enum(['open', 'closed']).default('open'),
  SIGNUP_PER_HOUR: z.coerce.number().int().min(1).default(10),
  /** The Temporal Web UI operators open; the console links each run there. */
  TEMPORAL_UI_URL: z.string().url().optional(),
  /** Each tenant's console and API are also at `<slug>.<BASE_DOMAIN>` (a wildcard DNS record points there). */
  BASE_DOMAIN: z.string().min(1).optional(),
  /** HTTPS: the certificate chain and key (PEM files). Without them the API speaks plain HTTP (behind a proxy). */
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  SITE_TOKEN_TTL_SECONDS: z.coerce.number().int().min(2).max(300).default(300),
  /** How long a request waits for one answer from the metadata database or Temporal before it answers 503. */
  DEPENDENCY_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(1500),
  /** GET /metrics answers only with `Authorization: Bearer <METRICS_TOKEN>`; unset, there is no /metrics (404). */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** The Ed25519 key (PEM) that signs erasure reports: the API publishes its public half. */
  ERASURE_SIGNING_KEY_FILE: file,
  /** Delegated read-only credentials of cloud destinations (JSON, api/backups/cloud-read.ts): downloads without the site. */
  CLOUD_READ_FILE: file,
  ...channelSecretEnv,
});
export type ApiEnv = z.infer<typeof apiEnv>;

/** Timeouts the central worker hands to each run: production values by default, short ones in tests. */
export const centralEnv = temporalEnv.extend(databaseEnv.shape).extend({
  ...metricsEnv,
  DUMP_HEARTBEAT_TIMEOUT_SECONDS: seconds(60),
  DUMP_TIMEOUT_SECONDS: seconds(12 * 3600),
  SITE_PICKUP_TIMEOUT_SECONDS: seconds(30 * 60),
  RETRY_INITIAL_SECONDS: seconds(5),
  /** How long a run waits out a metadata database outage to record what it did (its history, its copies). */
  BOOKKEEPING_TIMEOUT_SECONDS: seconds(12 * 3600),
  WORKFLOW_BUNDLE: z.string().optional(),
  /** Non-public receivers tenants' webhooks may reach (hosts, IPs, CIDRs, comma-separated); by default none. */
  OUTBOUND_ALLOW: z.string().optional(),
  /** The Ed25519 key (PEM) that signs erasure reports (the API's, whose public half it publishes). */
  ERASURE_SIGNING_KEY_FILE: file,
  ...channelSecretEnv,
  /** Telegram's Bot API; another base only for a test's stand-in (an operator's setting, never a tenant's). */
  TELEGRAM_API_URL: z.string().url().default('https://api.telegram.org'),
  /** site.offline: how long a site may stop polling before channels without a setting of their own hear of it. */
  SITE_OFFLINE_AFTER_MINUTES: z.coerce.number().positive().default(10),
});
export type CentralEnv = z.infer<typeof centralEnv>;

export const siteEnv = temporalEnv.extend({
  ...metricsEnv,
  SITE_CONFIG: z.string().min(1, 'path of the site worker configuration file'),
});
export type SiteEnv = z.infer<typeof siteEnv>;
