// `npm run faults -- [--quick] [--only name,...]`
// The fault matrix on a scratch platform: each scenario breaks something during real runs (a killed worker, Temporal
// or the metadata database stopped, a full disk, ...), and its outcome is read back from the real state. Prints a
// table; exits 1 when any scenario lost, duplicated or left something, or did not end as expected.
import { parseArgs } from 'node:util';
import { errorText, runSuite } from './suite.ts';
import { passed } from './scenario.ts';
import { formatTable } from './table.ts';
import { undoAll } from './undo.ts';

const USAGE = `usage: npm run faults -- [--quick] [--only a,b]
  --quick  the subset npm test runs (minutes; the metadata outage lasts 20 s instead of 5 min)
  --only   scenarios whose name contains one of these words`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const log = (msg: string) => console.error(`[faults ${new Date().toISOString().slice(11, 19)}] ${msg}`);
  // Ctrl-C: the mounts, the platform and the databases the suite made go before the process does.
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping, undoing what the suite made`);
    void undoAll(log).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const only = values.only
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const started = new Date();
  const { auditMissed, results } = await runSuite({ quick: values.quick, log, ...(only && { only }) });
  console.log(`fault suite ${values.quick ? '--quick ' : ''}${started.toISOString()}`);
  console.log(formatTable(results));
  for (const m of auditMissed) console.log(`AUDIT SELF-CHECK FAILED: ${m}`);
  if (auditMissed.length === 0)
    console.log('audit self-check: damage made on purpose was counted (lost, orphan, duplicate, stuck)');
  return auditMissed.length === 0 && results.every(passed) ? 0 : 1;
}

try {
  process.exitCode = await main();
} catch (err) {
  console.error(`[faults] failed: ${err instanceof Error ? (err.stack ?? errorText(err)) : String(err)}`);
  process.exitCode = 1;
}
// The platform's clients may keep handles a moment longer than the suite needs.
setTimeout(() => process.exit(), 2000).unref();
