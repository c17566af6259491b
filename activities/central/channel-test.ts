// The console's and the API's test button: one test message to one channel now, recorded like any delivery, its
// outcome answered rather than retried (the person who pressed it is waiting for it).
import { and, eq } from 'drizzle-orm';
import { BackupError, notFound } from '../../common/errors.ts';
import { notificationChannels } from '../../db/schema.ts';
import { asActivity } from '../failure.ts';
import type { CentralContext } from './context.ts';
import { deliver, type DeliveryResult } from './notify/deliveries.ts';
import { noticeTitle } from './notify/messages.ts';

export function createTestChannel(central: CentralContext) {
  return async function testChannel(input: {
    tenantId: string;
    channelId: string;
    key: string;
  }): Promise<Pick<DeliveryResult, 'state' | 'attempts' | 'error'>> {
    return asActivity(async () => {
      if (!central.notify) throw new BackupError('unavailable', 'this central worker sends no notifications');
      const [channel] = await central.db
        .select()
        .from(notificationChannels)
        .where(and(eq(notificationChannels.id, input.channelId), eq(notificationChannels.tenantId, input.tenantId)));
      if (!channel) throw notFound('channel');
      const { state, attempts, error } = await deliver(central.db, central.notify, channel, {
        type: 'test',
        key: input.key,
        tenantId: input.tenantId,
        title: noticeTitle('test', `channel ${channel.name}`),
        message: `A test message from the backup platform to the ${channel.kind} channel '${channel.name}'.`,
        facts: [{ name: 'Channel', value: channel.name }],
        at: new Date().toISOString(),
        data: { tenantId: input.tenantId, channel: channel.name },
      });
      return { state, attempts, ...(error && { error }) };
    });
  };
}
