// inspectRestore: a drill's verdict on a restored database, against what was recorded at backup time.
import { BackupError } from '../../common/errors.ts';
import type { TableCount } from '../../common/model.ts';
import type { DryRunCheck } from '../contracts.ts';
import { assertionHolds } from '../engines/assertions.ts';
import { asActivity } from '../failure.ts';
import type { SiteContext } from './context.ts';

export interface InspectRestoreInput {
  serverName: string;
  database: string;
  expected: TableCount[];
  tolerancePercent: number;
  assertions: string[];
}

export function createInspectRestore(site: SiteContext) {
  /**
   * A restored database against what was recorded at backup time: every table present, row counts within the
   * tolerance, and each SQL assertion true. Answers each check; a failed check is a result, not an error.
   */
  return async function inspectRestore(input: InspectRestoreInput): Promise<DryRunCheck[]> {
    return asActivity(async () => {
      const { conn, engine } = await site.engineFor(input.serverName);
      const actual = new Map(
        (await engine.tableRowCounts(conn, input.database, { exactBelowRows: Number.MAX_SAFE_INTEGER })).map((t) => [
          t.table,
          t.rows,
        ]),
      );
      const checks: DryRunCheck[] = [];
      const missing = input.expected.filter((t) => !actual.has(t.table)).map((t) => t.table);
      checks.push({
        name: 'every table present',
        ok: missing.length === 0,
        detail: missing.length ? `missing after restore: ${missing.join(', ')}` : `${input.expected.length} tables`,
      });
      const off = input.expected
        .filter((t) => actual.has(t.table))
        .filter((t) => Math.abs(actual.get(t.table)! - t.rows) > allowedDrift(t, input.tolerancePercent))
        .map((t) => `${t.table}: ${actual.get(t.table)} rows, ${t.rows} at backup time`);
      checks.push({
        name: 'row counts',
        ok: off.length === 0,
        detail: off.length ? off.join('; ') : `within ${input.tolerancePercent}% of the counts at backup time`,
      });
      for (const [i, sql] of input.assertions.entries()) {
        try {
          const r = await assertionHolds(conn, input.database, sql);
          checks.push({ name: `assertion ${i + 1}`, ok: r.ok, detail: `${sql} → ${r.value}` });
        } catch (err) {
          checks.push({
            name: `assertion ${i + 1}`,
            ok: false,
            // Only the platform's own words: a server's error text can quote the restored data.
            detail: `${sql} → ${err instanceof BackupError ? err.message : 'it could not run'}`,
          });
        }
      }
      return checks;
    });
  };
}

/** A count recorded from the catalogue's estimate is itself rough: it gets at least 10% on top of the tolerance. */
const allowedDrift = (t: TableCount, tolerancePercent: number) =>
  (t.rows * (t.exact ? tolerancePercent : Math.max(tolerancePercent, 10))) / 100;
