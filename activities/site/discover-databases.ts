// discoverDatabases: the databases a configuration of `databases: ["*"]` backs up on this run, read from the server.
import { asActivity } from '../failure.ts';
import type { SiteContext } from './context.ts';

export function createDiscoverDatabases(site: SiteContext) {
  /** The server's databases (the engine leaves out its system ones) less `exclude`, sorted by name. */
  return async function discoverDatabases(input: { serverName: string; exclude: string[] }): Promise<string[]> {
    return asActivity(async () => {
      const { conn, engine } = await site.engineFor(input.serverName);
      const found = (await engine.listDatabases(conn)).filter((d) => !input.exclude.includes(d)).sort();
      site.runLogger({ server: input.serverName }).info({ databases: found.length }, 'databases discovered');
      return found;
    });
  };
}
