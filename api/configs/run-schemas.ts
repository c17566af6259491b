// The shapes of what is done with a configuration rather than to it: run it now (or dry-run it), and preview what a
// retention policy would delete.
import { z } from '@hono/zod-openapi';
import { invalid } from '../../common/errors.ts';
import { Retention } from './schemas.ts';

const RunInput = z
  .object({
    dryRun: z
      .boolean()
      .default(false)
      .openapi({ description: 'check everything a backup needs and store nothing; answers the report' }),
  })
  .openapi('RunInput');
export const DryRunReport = z
  .object({
    ok: z.boolean(),
    estimatedBytes: z.number(),
    estimatedSeconds: z.number(),
    freeBytes: z.number(),
    checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string() })),
    workflowId: z.string(),
  })
  .openapi('DryRunReport');

/** The run's optional body: empty (with or without a JSON content type) is a backup; `{ "dryRun": true }` a dry run. */
export function parseRunInput(text: string): z.infer<typeof RunInput> {
  let raw: unknown = {};
  try {
    raw = text.trim() ? JSON.parse(text) : {};
  } catch {
    throw invalid('the body is not JSON', 'body');
  }
  const parsed = RunInput.safeParse(raw);
  if (!parsed.success)
    throw invalid(
      parsed.error.issues.map((i) => i.message).join('; '),
      parsed.error.issues[0]?.path.join('.') || 'body',
    );
  return parsed.data;
}

export const PreviewInput = z
  .object({
    destinationId: z
      .string()
      .uuid()
      .optional()
      .openapi({ description: "the destination whose copies to look at; absent for the site's own copies" }),
    retention: Retention,
  })
  .openapi('RetentionPreviewInput');
const PlannedCopy = z.object({
  backupId: z.string(),
  database: z.string(),
  fileName: z.string().nullable(),
  takenAt: z.string(),
  reasons: z.array(z.string()),
});
export const RetentionPreview = z
  .object({
    target: z.string(),
    policy: z.string(),
    delete: z.array(PlannedCopy),
    keep: z.array(PlannedCopy),
  })
  .openapi('RetentionPreview');
