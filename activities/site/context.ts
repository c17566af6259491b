// What every site activity is given: the site's configuration and identity, a logger labelled with the run, a
// server's engine, storages opened and closed around their use, the tenant key, and heartbeats while work goes on.
import { Context } from '@temporalio/activity';
import { BackupError } from '../../common/errors.ts';
import { withRunLabels, type Logger } from '../../common/logger.ts';
import { SITE_TARGET } from '../../common/model.ts';
import type { DatabaseEngine } from '../engines/engine.ts';
import { engineFor as engineNamed } from '../engines/index.ts';
import type { ServerConnection, SiteConfig } from '../site-config.ts';
import { openStorage } from '../storage/index.ts';
import type { Storage } from '../storage/storage.ts';

export interface SiteIdentity {
  tenantId: string;
  siteId: string;
}

export interface SiteDeps {
  config: SiteConfig;
  identity: SiteIdentity;
  logger: Logger;
}

export interface SiteContext {
  config: SiteConfig;
  identity: SiteIdentity;
  /** The site's logger with this activity's run, attempt and site on every line, and `extra`. */
  runLogger(extra: { server?: string; database?: string; target?: string }): Logger;
  /** A server of the site configuration: its connection settings (secrets read now) and its engine. */
  engineFor(serverName: string): Promise<{ conn: ServerConnection; engine: DatabaseEngine }>;
  /** The tenant key for an encrypted backup; its absence is the admin's to fix at the site. */
  requireMasterKey(): Promise<Buffer>;
  /** The site's own Backups folder, or a destination from the site configuration; closed when `fn` is done. */
  withStorage<T>(target: string, fn: (storage: Storage) => Promise<T>): Promise<T>;
}

export function createSiteContext(deps: SiteDeps): SiteContext {
  const { config, identity } = deps;
  return {
    config,
    identity,

    runLogger(extra) {
      const info = Context.current().info;
      return withRunLabels(deps.logger, {
        workflow_id: info.workflowExecution?.workflowId,
        run_id: info.workflowExecution?.runId,
        activity: info.activityType,
        attempt: info.attempt,
        tenant_id: identity.tenantId,
        site_id: identity.siteId,
        ...extra,
      });
    },

    async engineFor(serverName) {
      const conn = await config.connection(serverName);
      return { conn, engine: engineNamed(conn.engine) };
    },

    async requireMasterKey() {
      const key = await config.masterKey();
      if (!key)
        throw new BackupError(
          'invalid',
          `this backup is encrypted, but the site configuration (${config.sourcePath}) has no "encryption" key: add the tenant key there`,
          { code: 'EncryptionKeyMissing' },
        );
      return key;
    },

    async withStorage(target, fn) {
      const storage = await openStorage(
        target === SITE_TARGET ? { type: 'local', path: config.backupsDir } : config.destination(target),
      );
      try {
        return await fn(storage);
      } finally {
        await storage.close().catch(() => undefined);
      }
    },
  };
}

/** Keeps the activity alive while `fn` works, with whatever progress it reports. */
export async function withHeartbeat<T>(progress: object, fn: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat(progress);
  const beat = setInterval(() => ctx.heartbeat(progress), heartbeatEvery(ctx.info.heartbeatTimeoutMs));
  try {
    return await fn();
  } finally {
    clearInterval(beat);
  }
}

const heartbeatEvery = (timeoutMs: number | undefined) => Math.max(1000, Math.min(10_000, (timeoutMs ?? 30_000) / 3));

/**
 * A short activity that heartbeats while it works, so a worker that died in it (say, while a table lock was awaited)
 * is noticed within the heartbeat timeout instead of the step's whole start-to-close timeout. A cancellation, which
 * only a heartbeat brings, ends it at once; work still under way then is left to finish or fail on its own.
 */
export function heartbeating<A extends unknown[], R>(activity: (...args: A) => Promise<R>) {
  return (...args: A): Promise<R> => {
    const ctx = Context.current();
    return withHeartbeat({}, () => {
      const work = activity(...args);
      // Once cancelled, nobody awaits the work: its later failure must not end the worker as unhandled.
      work.catch(() => undefined);
      return Promise.race([work, ctx.cancelled]);
    });
  };
}
