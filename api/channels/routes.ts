// Notification channels: where the tenant's alerts go (e-mail, Slack, Teams, Discord, Telegram, a signed webhook),
// each with the events it wants, its recent deliveries, and a test button. Admins change them; every role may look.
import { randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { WorkflowFailedError } from '@temporalio/client';
import { BackupError } from '../../common/errors.ts';
import { and, count, eq, gt, sql } from 'drizzle-orm';
import { notificationChannels, notificationDeliveries } from '../../db/schema.ts';
import { requireRole } from '../auth/roles.ts';
import { body, errors, IdParam, json } from '../lib/http.ts';
import { router, type Router } from '../lib/router.ts';
import type { Services } from '../lib/services.ts';
import { audit, findOwned } from '../lib/tenancy.ts';
import {
  Channel,
  ChannelCreate,
  ChannelCreated,
  channelOut,
  ChannelPatch,
  Delivery,
  deliveryOut,
  TestResult,
} from './schemas.ts';
import * as service from './service.ts';

export function channelRoutes(s: Services) {
  const r = router();
  list(r, s);
  create(r, s);
  get(r, s);
  patch(r, s);
  remove(r, s);
  deliveries(r, s);
  test(r, s);
  return r;
}

const tags = ['notifications'];

function list(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/channels',
      tags,
      summary: 'The notification channels, with their newest deliveries',
      request: { query: z.object({ deliveries: z.coerce.number().int().min(0).max(50).default(5) }) },
      responses: {
        200: json(z.object({ items: z.array(Channel.extend({ recentDeliveries: z.array(Delivery) })) })),
        400: errors[400],
      },
    }),
    async (c) => {
      const { tenantId } = c.get('auth');
      const per = c.req.valid('query').deliveries;
      const rows = await service.list(s.db, tenantId);
      const items = [];
      for (const row of rows) {
        const recent = per > 0 ? await service.deliveries(s.db, tenantId, row.id, per) : [];
        items.push({ ...channelOut(row), recentDeliveries: recent.map(deliveryOut) });
      }
      return c.json({ items }, 200);
    },
  );
}

function create(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/channels',
      tags,
      summary: "Add a channel; a webhook channel's signing secret is answered this once",
      request: body(ChannelCreate),
      responses: { 201: json(ChannelCreated), 400: errors[400], 403: errors[403], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      if (!s.channelKey)
        throw new BackupError('unavailable', 'notification channels are not set up (CHANNEL_SECRET_KEY)');
      const { channel, signingSecret } = await service.create(s.db, s.channelKey, auth, c.req.valid('json'));
      return c.json({ ...channelOut(channel), ...(signingSecret && { signingSecret }) }, 201);
    },
  );
}

function get(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}',
      tags,
      request: { params: IdParam },
      responses: { 200: json(Channel), 404: errors[404] },
    }),
    async (c) => {
      const row = await findOwned(
        s.db,
        notificationChannels,
        c.req.valid('param').id,
        c.get('auth').tenantId,
        'channel',
      );
      return c.json(channelOut(row), 200);
    },
  );
}

function patch(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'patch',
      path: '/channels/{id}',
      tags,
      summary: 'Rename a channel or change its events; to change where it sends, add a new one',
      request: { params: IdParam, ...body(ChannelPatch) },
      responses: { 200: json(Channel), 400: errors[400], 403: errors[403], 404: errors[404], 409: errors[409] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      return c.json(channelOut(await service.update(s.db, auth, c.req.valid('param').id, c.req.valid('json'))), 200);
    },
  );
}

function remove(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'delete',
      path: '/channels/{id}',
      tags,
      summary: 'Remove a channel and its delivery records',
      request: { params: IdParam },
      responses: { 204: { description: 'Removed' }, 403: errors[403], 404: errors[404] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      await service.remove(s.db, auth, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
}

function deliveries(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/deliveries',
      tags,
      summary: 'What was sent to the channel, newest first: state, attempts, last error',
      request: { params: IdParam, query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }) },
      responses: { 200: json(z.object({ items: z.array(Delivery) })), 400: errors[400], 404: errors[404] },
    }),
    async (c) => {
      const { tenantId } = c.get('auth');
      const { id } = c.req.valid('param');
      await findOwned(s.db, notificationChannels, id, tenantId, 'channel');
      const rows = await service.deliveries(s.db, tenantId, id, c.req.valid('query').limit);
      return c.json({ items: rows.map(deliveryOut) }, 200);
    },
  );
}

const TESTS_PER_MINUTE = 5;

function test(r: Router, s: Services) {
  r.openapi(
    createRoute({
      method: 'post',
      path: '/channels/{id}/test',
      tags,
      summary: 'Send a test message now (from the central worker) and answer how it went',
      request: { params: IdParam },
      responses: { 200: json(TestResult), 403: errors[403], 404: errors[404], 429: errors[429], 503: errors[503] },
    }),
    async (c) => {
      const auth = c.get('auth');
      requireRole(auth, 'admin');
      const { id } = c.req.valid('param');
      await findOwned(s.db, notificationChannels, id, auth.tenantId, 'channel');
      // Each test is a delivery and a request to the channel's address: a few a minute, not a request sender.
      const [recent] = await s.db
        .select({ n: count() })
        .from(notificationDeliveries)
        .where(
          and(
            eq(notificationDeliveries.channelId, id),
            eq(notificationDeliveries.eventType, 'test'),
            gt(notificationDeliveries.createdAt, sql`now() - interval '1 minute'`),
          ),
        );
      if ((recent?.n ?? 0) >= TESTS_PER_MINUTE)
        return c.json(
          { error: { code: 'rate_limited', message: `at most ${TESTS_PER_MINUTE} tests a minute: try again in 60 s` } },
          429,
          { 'Retry-After': '60' },
        );
      const result = await s.runs.testChannel(auth.tenantId, id, randomUUID()).catch((e: unknown) => {
        if (e instanceof WorkflowFailedError) {
          let cause: unknown = e.cause;
          while (cause instanceof Error && cause.cause) cause = cause.cause;
          throw new BackupError('unavailable', `the test could not be sent: ${(cause as Error)?.message ?? e.message}`);
        }
        throw e;
      });
      await audit(s.db, auth, 'channel.test', { type: 'channel', id }, { state: result.state });
      return c.json(result, 200);
    },
  );
}
