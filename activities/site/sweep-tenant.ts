// sweepTenantFiles: the tenant's erasure at the site. After the keys on record are deleted (deleteCopies), whatever
// is left under the tenant's folder of a target goes too: a dump whose run never recorded it is the tenant's data.
import { asActivity } from '../failure.ts';
import type { SiteContext } from './context.ts';

export interface SweepTenantFilesInput {
  /** `site` (the site's Backups folder) or a destination of the site configuration. */
  target: string;
  /** The folder to empty: `''` for the site's own Backups folder (all of it is the tenant's), else `<tenantId>`. */
  prefix: string;
}

export function createSweepTenantFiles(site: SiteContext) {
  /** Deletes every object under `prefix` at `target`; run again, it finds nothing and deletes nothing. */
  return async function sweepTenantFiles(input: SweepTenantFilesInput): Promise<{ deleted: string[] }> {
    return asActivity(async () => {
      const log = site.runLogger({ target: input.target });
      const deleted = await site.withStorage(input.target, async (storage) => {
        const keys = (await storage.list(input.prefix)).map((o) => o.key);
        for (const key of keys) await storage.delete(key);
        return keys;
      });
      log.info({ labels: { count: deleted.length } }, 'tenant files erased');
      return { deleted };
    });
  };
}
