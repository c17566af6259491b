// What every route is given: the process's dependencies and the stateful helpers built on them once per app.
import type { Logger } from '../../common/logger.ts';
import type { TemporalHandles } from '../../common/temporal.ts';
import type { Db } from '../../db/client.ts';
import { DownloadRelay } from '../agent/relay.ts';
import type { SiteTokens } from '../agent/site-tokens.ts';
import { UserRoles } from '../auth/roles.ts';
import { TenantHosts } from '../domains/hosts.ts';
import type { TxtResolver } from '../domains/service.ts';
import { SignInGuard } from '../guard/sign-in.ts';
import { Runs } from '../temporal/runs.ts';
import { Schedules } from '../temporal/schedules.ts';

export interface AppDeps {
  db: Db;
  temporal: TemporalHandles;
  logger: Logger;
  jwtSecret: string;
  jwtTtlSeconds: number;
  centralTaskQueue: string;
  /** Issues site workers' Temporal tokens at check-in; absent when Temporal is a cluster the project does not run. */
  siteTokens?: SiteTokens | undefined;
  /** Served over HTTPS (TLS_CERT_FILE/TLS_KEY_FILE): answers tell browsers to keep to it. */
  https?: boolean;
  /** SIGNUP=closed: only an operator (or an owner adding users) makes accounts. */
  signupOpen?: boolean;
  /** Sign-ups one address may make in an hour (SIGNUP_PER_HOUR, 10). */
  signupsPerHour?: number | undefined;
  /** DEPENDENCY_TIMEOUT_MS: each Temporal call of a request gets this long before the request answers 503. */
  dependencyTimeoutMs?: number | undefined;
  /** The Temporal Web UI operators open (TEMPORAL_UI_URL): the console links each run to it. */
  temporalUiUrl?: string | undefined;
  /** BASE_DOMAIN: each tenant's console and API are also at `<slug>.<BASE_DOMAIN>`. */
  baseDomain?: string | undefined;
  /** DNS TXT look-ups proving a tenant's own domain (node's resolver unless a test gives one). */
  resolveTxt?: TxtResolver | undefined;
  /** METRICS_TOKEN: Prometheus sends it as a bearer token to GET /metrics; without it there is no /metrics. */
  metricsToken?: string | undefined;
  /** The public half (PEM) of the key that signs erasure reports, published at /api/v1/privacy/erasure-key. */
  erasurePublicKey?: string | undefined;
  /** CLOUD_READ_FILE: delegated read-only credentials of destinations, for downloads without the site. */
  cloudReadFile?: string | undefined;
  /** Seals notification channels' secrets (common/channel-secrets.ts); without it no channel can be added. */
  channelKey?: Buffer | undefined;
}

export interface Services extends AppDeps {
  schedules: Schedules;
  runs: Runs;
  relay: DownloadRelay;
  roles: UserRoles;
  signIn: SignInGuard;
  hosts: TenantHosts;
}

export function createServices(deps: AppDeps): Services {
  return {
    ...deps,
    schedules: new Schedules(deps.temporal.client, deps.centralTaskQueue),
    runs: new Runs(deps.temporal.client, deps.centralTaskQueue),
    relay: new DownloadRelay(),
    roles: new UserRoles(deps.db),
    signIn: new SignInGuard({ signupsPerHour: deps.signupsPerHour }),
    hosts: new TenantHosts(deps.db, deps.baseDomain),
  };
}
