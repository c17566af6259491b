// alert: an ECS alert event in the central log, and a POST to the tenant's webhook when one is set.
import { createHash } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { BackupError } from '../../common/errors.ts';
import { tenants } from '../../db/schema.ts';
import { asActivity } from '../failure.ts';
import type { CentralContext } from './context.ts';

export interface AlertInput {
  tenantId: string;
  configId?: string | null;
  configName?: string;
  serverName?: string;
  siteName: string;
  database?: string;
  message: string;
  /** What happened; the webhook's `type`. */
  event?:
    | 'backup.failed'
    | 'backup.partial'
    | 'copy.lost'
    | 'copy.corrupt'
    | 'drill.failed'
    | 'restore.failed'
    | 'backup.missed';
}

export function createAlert(central: CentralContext) {
  /** An ECS alert event in the log, and a POST to the tenant's webhook when one is set. */
  return async function alert(input: AlertInput): Promise<{ webhook: 'sent' | 'none' }> {
    return asActivity(async () => {
      const { workflowId, runId } = central.runInfo();
      const log = central.runLogger({
        tenant_id: input.tenantId,
        server: input.serverName,
        database: input.database,
        config_id: input.configId ?? undefined,
      });
      const type = input.event ?? 'backup.failed';
      log.error(
        { event: { kind: 'alert', category: ['database'], type: ['error'], outcome: 'failure', action: type } },
        `${type.replace('.', ' ')}: ${input.message}`,
      );
      const [tenant] = await central.db
        .select({ webhookUrl: tenants.webhookUrl })
        .from(tenants)
        .where(eq(tenants.id, input.tenantId));
      if (!tenant?.webhookUrl) return { webhook: 'none' };
      const body = { type, workflowId, runId, ...input, at: new Date().toISOString() };
      const doFetch = central.fetch;
      const res = await doFetch(tenant.webhookUrl, {
        method: 'POST',
        // The same alert sent again (a retry) has the same key; two alerts of one workflow (a watch over many
        // configurations, a sync over many backups) differ in what they say, and so in their keys.
        headers: {
          'content-type': 'application/json',
          'idempotency-key': `${workflowId}:${type}:${createHash('sha256').update(JSON.stringify(input)).digest('hex').slice(0, 32)}`,
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      }).catch((e: Error) => {
        throw new BackupError(
          'unavailable',
          `alert webhook at ${new URL(tenant.webhookUrl!).origin} unreachable: ${(e.cause as Error | undefined)?.message ?? e.name}`,
        );
      });
      if (!res.ok) throw new BackupError('unavailable', `alert webhook answered ${res.status}`);
      return { webhook: 'sent' };
    });
  };
}
