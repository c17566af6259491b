// Runs at once: five run-nows of one configuration (one runs, the others are refused or skipped, never doubled),
// and three configurations of one database started together (three runs, three distinct good files).
import path from 'node:path';
import { backupRows, configFor, newTenant, runNow, waitRunsEnded } from './context.ts';
import { outcome, type Scenario } from './scenario.ts';

const fiveRunNows: Scenario = {
  name: 'five run-nows at once',
  mode: 'both',
  async run(ctx) {
    const t = await newTenant(ctx, 'five-run-nows', {
      destinations: { nas: { path: path.join(ctx.fp.tmp, 'five', 'nas') } },
    });
    const configId = await configFor(ctx, t, ctx.small.name);
    const answers = await Promise.all(Array.from({ length: 5 }, () => runNow(ctx, t, configId)));
    const accepted = answers.filter((s) => s === 202).length;
    await waitRunsEnded(ctx, t);
    const rows = await backupRows(ctx, t);
    const problems = rows.filter((r) => r.status !== 'succeeded').map((r) => `run ended ${r.status}: ${r.error}`);
    if (rows.length > accepted) problems.push(`${rows.length} runs from ${accepted} accepted run-nows`);
    await t.worker.stop();
    // By run id: runs started in the same second share the schedule's workflow id.
    const runs = new Set(rows.map((r) => r.runId)).size;
    return outcome(ctx, this.name, t, { good: runs }, { problems, notes: [`${accepted} of 5 accepted, ${runs} ran`] });
  },
};

const threeConfigs: Scenario = {
  name: 'three configurations of one database at once',
  mode: 'full',
  async run(ctx) {
    const t = await newTenant(ctx, 'three-configs', {
      destinations: { nas: { path: path.join(ctx.fp.tmp, 'three', 'nas') } },
    });
    const configs = [];
    for (let i = 0; i < 3; i++) configs.push(await configFor(ctx, t, ctx.small.name));
    await Promise.all(configs.map((c) => runNow(ctx, t, c)));
    await waitRunsEnded(ctx, t, 3);
    const problems = (await backupRows(ctx, t))
      .filter((r) => r.status !== 'succeeded')
      .map((r) => `run ended ${r.status}: ${r.error}`);
    await t.worker.stop();
    return outcome(ctx, this.name, t, { runs: 3, good: 3 }, { problems });
  },
};

export const concurrencyScenarios: Scenario[] = [fiveRunNows, threeConfigs];
