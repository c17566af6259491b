// Erasure reports: the signed record that a tenant's data was erased. It outlives the tenant, so it hangs from no
// tenant row (no foreign key) and holds ids only, never a name or an e-mail address.
import { jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const erasureReports = pgTable('erasure_reports', {
  id: uuid('id').primaryKey().defaultRandom(),
  /** The erased tenant's id: no foreign key, the tenant row is gone once the report is signed. */
  tenantId: uuid('tenant_id').notNull(),
  /** SHA-256 (hex) of the token the requester was given: who holds it may read the report, no account needed. */
  tokenHash: text('token_hash').notNull(),
  /** `running` until the workflow signs the report, then `done`. */
  status: text('status').$type<'running' | 'done'>().notNull().default('running'),
  workflowId: text('workflow_id').notNull(),
  /** What the API removed at once when the erasure was asked for (the users, so their sessions end). */
  requested: jsonb('requested').$type<{ requestedBy: string; usersDeleted: number }>().notNull(),
  requestedAt: timestamp('requested_at', { withTimezone: true }).notNull().defaultNow(),
  finishedAt: timestamp('finished_at', { withTimezone: true }),
  /** The report exactly as signed (JSON text): a verifier checks the signature over these bytes. */
  payload: text('payload'),
  /** Ed25519 signature of `payload`, base64. */
  signature: text('signature'),
});
