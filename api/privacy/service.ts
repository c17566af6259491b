// Erasure and export on request (GDPR arts. 15, 17, 20): a user erased with their audit trail pseudonymised, a tenant
// erased by a durable workflow whose signed report outlives it, and a tenant's metadata exported as JSON.
//
// Who may erase whom: every user may erase their own account; an admin may erase users below owner; only an owner
// may erase an owner (as for removing a user). The last owner of a tenant is never erased alone (409): the tenant
// would be left without anyone who can manage or erase it, so they erase the tenant instead.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { and, desc, eq, sql } from 'drizzle-orm';
import { BackupError, conflict, invalid } from '../../common/errors.ts';
import { erasedUserPseudonym, sha256Hex } from '../../common/erasure.ts';
import type { Tx } from '../../db/client.ts';
import {
  auditLog,
  backupConfigs,
  backupCopies,
  backups,
  copyEvents,
  destinations,
  erasureReports,
  notificationChannels,
  objectMirrorRuns,
  objectMirrors,
  restores,
  runTriggers,
  servers,
  sites,
  tenantDomains,
  tenants,
  users,
} from '../../db/schema.ts';
import { requireRole } from '../auth/roles.ts';
import type { AuthContext } from '../auth/tokens.ts';
import type { Services } from '../lib/services.ts';
import { findOwned } from '../lib/tenancy.ts';

/** Erases a user: their row goes, their sessions end, and what the tenant's records say of them is pseudonymised. */
export async function eraseUser(s: Services, auth: AuthContext, id: string): Promise<{ pseudonym: string }> {
  const pseudonym = erasedUserPseudonym(s.jwtSecret, auth.tenantId, id);
  await s.db.transaction(async (tx) => {
    const target = await findOwned(tx, users, id, auth.tenantId, 'user');
    if (id !== auth.userId) requireRole(auth, target.role === 'owner' ? 'owner' : 'admin');
    if (target.role === 'owner') await assertAnotherOwner(tx, auth.tenantId, id);
    await pseudonymise(tx, auth.tenantId, id, target.email, pseudonym);
    await tx.delete(users).where(eq(users.id, id));
    // Who erased whom, in the pseudonyms' terms when the user erased themselves.
    const self = id === auth.userId;
    await tx.insert(auditLog).values({
      tenantId: auth.tenantId,
      userId: self ? null : auth.userId,
      action: 'user.erase',
      targetType: 'user',
      targetId: pseudonym,
      details: self ? { actor: pseudonym } : null,
    });
  });
  s.roles.forget(auth.tenantId, id);
  return { pseudonym };
}

/**
 * Every record of the tenant that names the user: their audit entries keep the action under the pseudonym (as
 * `details.actor`), entries about them name the pseudonym as target, no entry keeps their e-mail address, and the
 * runs they started name the pseudonym as who started them.
 */
async function pseudonymise(tx: Tx, tenantId: string, userId: string, email: string, pseudonym: string) {
  const inTenant = eq(auditLog.tenantId, tenantId);
  await tx
    .update(auditLog)
    .set({
      userId: null,
      details: sql`(coalesce(${auditLog.details}, '{}'::jsonb) - 'email') || jsonb_build_object('actor', ${pseudonym}::text)`,
    })
    .where(and(inTenant, eq(auditLog.userId, userId)));
  await tx
    .update(auditLog)
    .set({ targetId: pseudonym, details: sql`${auditLog.details} - 'email'` })
    .where(and(inTenant, eq(auditLog.targetType, 'user'), eq(auditLog.targetId, userId)));
  await tx
    .update(auditLog)
    .set({ details: sql`${auditLog.details} - 'email'` })
    .where(and(inTenant, sql`lower(${auditLog.details}->>'email') = lower(${email})`));
  await tx
    .update(backups)
    .set({ triggeredBy: pseudonym })
    .where(and(eq(backups.tenantId, tenantId), sql`lower(${backups.triggeredBy}) = lower(${email})`));
  await tx
    .update(runTriggers)
    .set({ triggeredBy: pseudonym })
    .where(and(eq(runTriggers.tenantId, tenantId), sql`lower(${runTriggers.triggeredBy}) = lower(${email})`));
  await tx
    .update(restores)
    .set({ requestedBy: null })
    .where(and(eq(restores.tenantId, tenantId), eq(restores.requestedBy, userId)));
}

/** The owners' rows are locked in one order first: two owners erasing each other at once are taken one by one. */
async function assertAnotherOwner(tx: Tx, tenantId: string, exceptId: string): Promise<void> {
  const owners = await tx
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(users.role, 'owner')))
    .orderBy(users.id)
    .for('update');
  if (!owners.some((o) => o.id !== exceptId))
    throw conflict(
      'this is the last owner of the tenant: make another user owner first, or erase the whole tenant (POST /api/v1/tenant/erase)',
    );
}

export interface ErasureTicket {
  erasureId: string;
  token: string;
  workflowId: string;
}

/**
 * Starts the erasure of the caller's tenant. Its users go at once (every session ends, nobody can add data while the
 * erasure runs); the rest is the workflow's. The token answered is the only way to read the report afterwards.
 */
export async function requestTenantErasure(s: Services, auth: AuthContext, confirm: string): Promise<ErasureTicket> {
  requireRole(auth, 'owner');
  const token = randomBytes(24).toString('base64url');
  const erasedUsers: string[] = [];
  const ticket = await s.db.transaction(async (tx) => {
    const [tenant] = await tx.select().from(tenants).where(eq(tenants.id, auth.tenantId)).for('update');
    if (!tenant) throw new BackupError('not_found', 'tenant not found');
    if (confirm !== tenant.name)
      throw invalid(`type the tenant's name exactly ("${tenant.name}") to confirm its erasure`, 'confirm');
    const gone = await tx.delete(users).where(eq(users.tenantId, auth.tenantId)).returning({ id: users.id });
    erasedUsers.push(...gone.map((u) => u.id));
    const workflowId = `erase-tenant-${auth.tenantId}`;
    const [row] = await tx
      .insert(erasureReports)
      .values({
        tenantId: auth.tenantId,
        tokenHash: sha256Hex(token),
        workflowId,
        requested: { requestedBy: auth.userId, usersDeleted: gone.length },
      })
      .returning({ id: erasureReports.id });
    // Started inside the transaction: if Temporal refuses, nothing was deleted and the owner may ask again.
    try {
      await s.runs.startTenantErasure({ erasureId: row!.id, tenantId: auth.tenantId });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError)
        throw conflict('an erasure of this tenant is already under way');
      throw err;
    }
    return { erasureId: row!.id, token, workflowId };
  });
  for (const id of erasedUsers) s.roles.forget(auth.tenantId, id);
  return ticket;
}

/** The report of an erasure, for whoever holds its token (the requester's account no longer exists). */
export async function erasureReport(s: Services, id: string, token: string | undefined) {
  const refused = new BackupError('auth', 'send the token the erasure request answered in the X-Erasure-Token header');
  if (!token) throw refused;
  const [row] = await s.db.select().from(erasureReports).where(eq(erasureReports.id, id));
  const expected = Buffer.from(row?.tokenHash ?? sha256Hex('none'), 'hex');
  const given = Buffer.from(sha256Hex(token), 'hex');
  if (!row || !timingSafeEqual(expected, given)) throw refused;
  return {
    id: row.id,
    tenantId: row.tenantId,
    status: row.status,
    requestedAt: row.requestedAt.toISOString(),
    finishedAt: row.finishedAt?.toISOString() ?? null,
    algorithm: 'Ed25519' as const,
    payload: row.payload,
    signature: row.signature,
    report: row.payload ? (JSON.parse(row.payload) as Record<string, unknown>) : null,
  };
}

/**
 * The tenant's metadata as JSON: everything the platform keeps about it, without secrets (password hashes, site key
 * hashes, the webhook URL, which holds its secret) and without backup data, which stays at the sites.
 */
export async function exportTenant(s: Services, tenantId: string) {
  const db = s.db;
  const [tenant] = await db.select().from(tenants).where(eq(tenants.id, tenantId));
  const backupRows = await db
    .select()
    .from(backups)
    .where(eq(backups.tenantId, tenantId))
    .orderBy(desc(backups.startedAt));
  const copyRows = await db.select().from(backupCopies).where(eq(backupCopies.tenantId, tenantId));
  const eventRows = await db.select().from(copyEvents).where(eq(copyEvents.tenantId, tenantId)).orderBy(copyEvents.at);
  return {
    exportedAt: new Date().toISOString(),
    tenant: {
      id: tenant!.id,
      name: tenant!.name,
      slug: tenant!.slug,
      webhookConfigured: !!tenant!.webhookUrl,
      createdAt: tenant!.createdAt,
    },
    domains: await db
      .select({
        domain: tenantDomains.domain,
        verifiedAt: tenantDomains.verifiedAt,
        createdAt: tenantDomains.createdAt,
      })
      .from(tenantDomains)
      .where(eq(tenantDomains.tenantId, tenantId)),
    users: await db
      .select({ id: users.id, email: users.email, role: users.role, createdAt: users.createdAt })
      .from(users)
      .where(eq(users.tenantId, tenantId)),
    sites: await db
      .select({
        id: sites.id,
        name: sites.name,
        taskQueue: sites.taskQueue,
        engines: sites.engines,
        checkedInAt: sites.checkedInAt,
        createdAt: sites.createdAt,
      })
      .from(sites)
      .where(eq(sites.tenantId, tenantId)),
    servers: await db.select().from(servers).where(eq(servers.tenantId, tenantId)),
    destinations: await db.select().from(destinations).where(eq(destinations.tenantId, tenantId)),
    configurations: await db.select().from(backupConfigs).where(eq(backupConfigs.tenantId, tenantId)),
    history: backupRows.map((b) => ({
      ...b,
      copies: copyRows
        .filter((c) => c.backupId === b.id)
        .map((c) => ({ ...c, events: eventRows.filter((e) => e.copyId === c.id) })),
    })),
    // Channels without their sealed secrets (webhook URLs with tokens, passwords): what they are and what they hear.
    notificationChannels: await db
      .select({
        id: notificationChannels.id,
        name: notificationChannels.name,
        kind: notificationChannels.kind,
        events: notificationChannels.events,
        settings: notificationChannels.settings,
        offlineAfterMinutes: notificationChannels.offlineAfterMinutes,
        createdAt: notificationChannels.createdAt,
      })
      .from(notificationChannels)
      .where(eq(notificationChannels.tenantId, tenantId)),
    mirrors: await db.select().from(objectMirrors).where(eq(objectMirrors.tenantId, tenantId)),
    mirrorRuns: await db.select().from(objectMirrorRuns).where(eq(objectMirrorRuns.tenantId, tenantId)),
    restores: await db.select().from(restores).where(eq(restores.tenantId, tenantId)).orderBy(desc(restores.startedAt)),
    audit: await db.select().from(auditLog).where(eq(auditLog.tenantId, tenantId)).orderBy(desc(auditLog.at)),
  };
}
