// The shape of the statistics: what the console's charts draw, per day, per configuration and server.
import { z } from '@hono/zod-openapi';
import { Instant } from '../lib/http.ts';

export const StatisticsQuery = z.object({
  from: Instant.optional().openapi({ description: 'backups started at or after (default: 30 days before `to`)' }),
  to: Instant.optional().openapi({ description: 'backups started before (default: now)' }),
  configId: z.string().uuid().optional(),
  serverId: z.string().uuid().optional(),
});

const Day = z.object({
  day: z.string().openapi({ description: 'the UTC day, YYYY-MM-DD' }),
  configId: z.string().nullable(),
  serverId: z.string(),
  succeeded: z.number(),
  failed: z.number().openapi({ description: 'failed or partial' }),
  bytes: z.number().openapi({ description: 'total size of the succeeded backups' }),
  avgSeconds: z.number().nullable().openapi({ description: 'mean duration of the succeeded backups' }),
});

export const Statistics = z
  .object({
    from: z.string(),
    to: z.string(),
    days: z.array(Day),
    storage: z.array(z.object({ target: z.string(), copies: z.number(), bytes: z.number() })).openapi({
      description: 'copies stored now per target (`site` or a destination name) and their bytes',
    }),
    drills: z.array(
      z.object({ configId: z.string(), at: z.string(), restoreSeconds: z.number().nullable() }).openapi({
        description: 'the last successful restore drill per configuration',
      }),
    ),
  })
  .openapi('Statistics');

export type StatisticsInput = z.infer<typeof StatisticsQuery>;
