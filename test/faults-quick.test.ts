// Issue 23: the fault matrix's quick subset (`npm run faults -- --quick`) on a scratch platform of its own: workers
// killed at points of a run, Temporal and the metadata database stopped, a source session killed, a full disk, a
// read-only destination, concurrent runs, a restore killed. No scenario may lose, duplicate or leave anything behind,
// and each must end as expected; the audit first proves it counts damage made on purpose.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { passed } from '../ops/faults/scenario.ts';
import { runSuite } from '../ops/faults/suite.ts';
import { formatTable } from '../ops/faults/table.ts';

it('the quick fault matrix ends every scenario as expected, with no losses', { timeout: 300_000 }, async (t) => {
  const { auditMissed, results } = await runSuite({ quick: true, log: (m) => t.diagnostic(m) });
  const table = formatTable(results);
  for (const line of table.split('\n')) t.diagnostic(line);
  assert.deepEqual(auditMissed, [], 'the audit must count damage made on purpose');
  assert.ok(results.length >= 9, `the quick subset has only ${results.length} scenarios`);
  assert.deepEqual(
    results.filter((r) => !passed(r)).map((r) => r.name),
    [],
    `scenarios that failed:\n${table}`,
  );
});
