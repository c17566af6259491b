// Checking copies: every copy that should exist, grouped by the site that can read it, and what the sites found,
// recorded with a repair planned for each copy that is not stored as it should be.
import { and, asc, eq, ne, sql } from 'drizzle-orm';
import { SITE_TARGET } from '../../common/model.ts';
import type { Db } from '../../db/client.ts';
import { backupCopies, backups, copyEvents, sites } from '../../db/schema.ts';
import type { CheckResult, Repair, SiteCheckBatch } from '../contracts.ts';
import { asActivity } from '../failure.ts';
import type { CentralContext } from './context.ts';
import { refreshAvailability } from './copies.ts';

const fileNameOf = (key: string) => key.slice(key.lastIndexOf('/') + 1);

export function createListCopiesToCheck(central: CentralContext) {
  /** Every copy that should exist, grouped by the site whose worker can reach it. */
  return async function listCopiesToCheck(input: {
    tenantId?: string;
    configId?: string;
    backupId?: string;
  }): Promise<SiteCheckBatch[]> {
    return asActivity(async () => {
      const rows = await central.db
        .select({ copy: backupCopies, site: sites })
        .from(backupCopies)
        .innerJoin(backups, eq(backups.id, backupCopies.backupId))
        .innerJoin(sites, eq(sites.id, backups.siteId))
        .where(
          and(
            ne(backupCopies.state, 'deleted'),
            input.tenantId ? eq(backupCopies.tenantId, input.tenantId) : undefined,
            input.configId ? eq(backups.configId, input.configId) : undefined,
            input.backupId ? eq(backups.id, input.backupId) : undefined,
          ),
        )
        .orderBy(asc(sites.id), asc(backupCopies.backupId));
      const bySite = new Map<string, SiteCheckBatch>();
      for (const { copy, site } of rows) {
        if (copy.sizeBytes === null || copy.sha256 === null) continue;
        let batch = bySite.get(site.id);
        if (!batch)
          bySite.set(
            site.id,
            (batch = {
              siteId: site.id,
              siteName: site.name,
              taskQueue: site.taskQueue,
              tenantId: site.tenantId,
              copies: [],
            }),
          );
        batch.copies.push({
          copyId: copy.id,
          backupId: copy.backupId,
          target: copy.target,
          key: copy.objectKey,
          sizeBytes: copy.sizeBytes,
          sha256: copy.sha256,
          state: copy.state,
          fileName: fileNameOf(copy.objectKey),
        });
      }
      return [...bySite.values()];
    });
  };
}

export function createRecordCheckResults(central: CentralContext) {
  /** Records what the site found, and answers the copies to repair, each with a good copy to repair it from. */
  return async function recordCheckResults(input: {
    results: CheckResult[];
    verification?: boolean;
  }): Promise<Repair[]> {
    return asActivity(async () => {
      const { workflowId } = central.runInfo();
      const now = new Date();
      const bad: string[] = [];
      await central.db.transaction(async (tx) => {
        for (const r of input.results) {
          const [before] = await tx.select().from(backupCopies).where(eq(backupCopies.id, r.copyId));
          if (!before || before.state === 'deleted') continue;
          await tx
            .update(backupCopies)
            .set({
              state: r.state,
              checkedAt: now,
              updatedAt: now,
              error: r.state === 'stored' ? null : (r.detail ?? r.state),
            })
            .where(eq(backupCopies.id, r.copyId));
          if (r.state !== before.state || r.state !== 'stored' || input.verification) {
            await tx.insert(copyEvents).values({
              tenantId: before.tenantId,
              copyId: r.copyId,
              event: r.state === 'stored' ? 'verified' : r.state,
              detail: r.detail ?? null,
              workflowId,
            });
          }
          await refreshAvailability(tx, before.backupId);
          if (r.state !== 'stored') bad.push(r.copyId);
        }
      });
      return planRepairs(central.db, bad);
    });
  };
}

/** A repair for each bad copy: where it goes, and another stored copy of the same backup to copy from. */
async function planRepairs(db: Db, bad: string[]): Promise<Repair[]> {
  const repairs: Repair[] = [];
  for (const copyId of bad) {
    const [copy] = await db.select().from(backupCopies).where(eq(backupCopies.id, copyId));
    if (!copy) continue;
    const [backup] = await db.select().from(backups).where(eq(backups.id, copy.backupId));
    // The site copy first: it is the cheapest to read from.
    const [good] = await db
      .select()
      .from(backupCopies)
      .where(
        and(eq(backupCopies.backupId, copy.backupId), eq(backupCopies.state, 'stored'), ne(backupCopies.id, copy.id)),
      )
      .orderBy(sql`${backupCopies.target} = ${SITE_TARGET} desc`, asc(backupCopies.target))
      .limit(1);
    repairs.push({
      copyId: copy.id,
      backupId: copy.backupId,
      tenantId: copy.tenantId,
      to: { target: copy.target, key: copy.objectKey },
      from: good ? { target: good.target, key: good.objectKey } : null,
      sizeBytes: backup!.sizeBytes!,
      sha256: backup!.sha256!,
      what: `${backup!.fileName ?? copy.objectKey} at ${copy.target}`,
    });
  }
  return repairs;
}
