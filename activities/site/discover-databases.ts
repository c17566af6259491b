// discoverDatabases: the databases a configuration of `databases: ["*"]` backs up on this run, read from the server.
import { DATABASE_NAME_RE } from '../../common/names.ts';
import { asActivity } from '../failure.ts';
import type { SiteContext } from './context.ts';

export function createDiscoverDatabases(site: SiteContext) {
  /** The server's databases (the engine leaves out its system ones) less `exclude`, sorted by name. */
  return async function discoverDatabases(input: { serverName: string; exclude: string[] }): Promise<string[]> {
    return asActivity(async () => {
      const { conn, engine } = await site.engineFor(input.serverName);
      const listed = (await engine.listDatabases(conn)).filter((d) => !input.exclude.includes(d)).sort();
      // A name becomes a folder and a file name at the site and a key at every destination: one the platform's
      // names cannot hold (a slash, `..`, a space, `@globals`) is left out and said, never used as a path.
      const found = listed.filter((d) => DATABASE_NAME_RE.test(d));
      const log = site.runLogger({ server: input.serverName });
      const skipped = listed.filter((d) => !DATABASE_NAME_RE.test(d));
      if (skipped.length)
        log.warn(
          { skipped: skipped.map((d) => JSON.stringify(d)) },
          `databases left out: their names are not ones the platform can store (${DATABASE_NAME_RE.source})`,
        );
      log.info({ databases: found.length }, 'databases discovered');
      return found;
    });
  };
}
