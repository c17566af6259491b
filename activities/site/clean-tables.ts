// cleanTables: the first step of a backup. Every listed table is resolved (which also proves the login works) before
// any row is touched or any file written; then the destructive modes empty tables or delete their old rows.
import { invalid } from '../../common/errors.ts';
import type { CleanTable } from '../../common/model.ts';
import type { CleanTablesResult, RowsRemoved } from '../contracts.ts';
import { asActivity } from '../failure.ts';
import type { SiteContext } from './context.ts';

export interface CleanTablesInput {
  serverName: string;
  database: string;
  tables: CleanTable[];
}

export function createCleanTables(site: SiteContext) {
  /** Resolves the tables to clean and proves the login works, before any file is written. */
  return async function cleanTables(input: CleanTablesInput): Promise<CleanTablesResult> {
    return asActivity(async () => {
      const log = site.runLogger({ server: input.serverName, database: input.database });
      const { conn, engine } = await site.engineFor(input.serverName);
      // Every listed table is checked first: an unknown one stops the run before any row is touched.
      const resolved = await engine.resolveTables(
        conn,
        input.database,
        input.tables.map((t) => t.table),
      );
      const excludeTableData = resolved.filter((_, i) => input.tables[i]!.mode === 'exclude');
      const rowsRemoved: RowsRemoved[] = [];
      const truncate = input.tables.filter((t) => t.mode === 'truncate').map((t) => t.table);
      if (truncate.length > 0) {
        if (!engine.truncateTables)
          throw invalid(`${engine.name} servers cannot truncate tables before a backup: use mode exclude`);
        // All or none, in one transaction (or under one lock where the engine commits a truncate on its own).
        rowsRemoved.push({
          table: truncate.join(', '),
          mode: 'truncate',
          rows: await engine.truncateTables(conn, input.database, truncate),
        });
      }
      for (const t of input.tables) {
        if (t.mode !== 'deleteOlderThan') continue;
        if (!engine.deleteOlderThan)
          throw invalid(`${engine.name} servers cannot delete old rows before a backup: use mode exclude`);
        rowsRemoved.push({
          table: t.table,
          mode: `deleteOlderThan ${t.column} ${t.days} days`,
          rows: await engine.deleteOlderThan(conn, input.database, t.table, t.column, t.days),
        });
      }
      log.info({ tables: excludeTableData, rows_removed: rowsRemoved }, 'tables cleaned');
      return { excludeTableData, rowsRemoved };
    });
  };
}
