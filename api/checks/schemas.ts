// The shape of a configuration's health: what its backups, verifications and drills last said.
import { z } from '@hono/zod-openapi';

export const Health = z
  .object({
    lastBackup: z.object({ at: z.string(), status: z.string() }).nullable(),
    lastSuccessfulBackupAt: z.string().nullable(),
    lastDrill: z.object({ at: z.string(), status: z.string(), error: z.string().nullable() }).nullable(),
    lastSuccessfulDrill: z
      .object({ at: z.string(), restoreSeconds: z.number().nullable(), backupId: z.string().nullable() })
      .nullable(),
    lastVerifiedAt: z.string().nullable(),
  })
  .openapi('ConfigHealth');
