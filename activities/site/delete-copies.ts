// deleteCopies: what retention let go, removed at the site or at a destination.
import path from 'node:path';
import { SITE_TARGET } from '../../common/model.ts';
import { asActivity } from '../failure.ts';
import type { SiteContext } from './context.ts';
import { sweepStalePartials } from './files.ts';

export interface DeleteCopiesInput {
  target: string;
  keys: string[];
}

export function createDeleteCopies(site: SiteContext) {
  /** Removes copies retention let go. Deleting what is already gone succeeds, so a retry is harmless. */
  return async function deleteCopies(input: DeleteCopiesInput): Promise<{ deleted: string[] }> {
    return asActivity(async () => {
      const log = site.runLogger({ target: input.target });
      const deleted = await site.withStorage(input.target, async (storage) => {
        for (const key of input.keys) await storage.delete(key);
        return input.keys;
      });
      if (input.target === SITE_TARGET)
        await sweepStalePartials(new Set(input.keys.map((k) => path.dirname(path.join(site.config.backupsDir, k)))));
      log.info({ deleted }, 'copies deleted by retention');
      return { deleted };
    });
  };
}
