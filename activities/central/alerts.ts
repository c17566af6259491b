// alert: an ECS alert event in the central log, and a POST to the tenant's webhook when one is set.
import { createHash } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { BackupError } from '../../common/errors.ts';
import { outboundRequest } from '../../common/outbound.ts';
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
    | 'backup.missed'
    | 'database.vanished'
    | 'mirror.failed';
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
      const origin = new URL(tenant.webhookUrl).origin;
      const res = await outboundRequest(
        tenant.webhookUrl,
        {
          method: 'POST',
          // The same alert sent again (a retry) has the same key; two alerts of one workflow (a watch over many
          // configurations, a sync over many backups) differ in what they say, and so in their keys.
          headers: {
            'content-type': 'application/json',
            'idempotency-key': `${workflowId}:${type}:${createHash('sha256').update(JSON.stringify(input)).digest('hex').slice(0, 32)}`,
          },
          body: JSON.stringify(body),
          timeoutMs: 10_000,
        },
        central.outbound,
      ).catch((e: Error) => {
        // A refused address is the tenant's to fix (not retried); anything else is an outage.
        const kind = e instanceof BackupError && e.kind === 'invalid' ? 'invalid' : 'unavailable';
        const why = e instanceof BackupError ? e.message : ((e as NodeJS.ErrnoException).code ?? e.name);
        throw new BackupError(kind, `alert webhook at ${origin} unreachable: ${why}`);
      });
      if (res.status < 200 || res.status >= 300)
        throw new BackupError('unavailable', `alert webhook answered ${res.status}`);
      return { webhook: 'sent' };
    });
  };
}
