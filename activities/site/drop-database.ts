// dropDatabase: a drill's scratch database removed once it has been inspected.
import { asActivity } from '../failure.ts';
import type { SiteContext } from './context.ts';

export function createDropDatabase(site: SiteContext) {
  /** Drops a drill's scratch database; one that is already gone is fine. */
  return async function dropDatabase(input: { serverName: string; database: string }): Promise<void> {
    return asActivity(async () => {
      const { conn, engine } = await site.engineFor(input.serverName);
      await engine.dropDatabase(conn, input.database);
      site.runLogger({ server: input.serverName, database: input.database }).info('scratch database dropped');
    });
  };
}
