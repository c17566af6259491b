// The runner: one platform for the whole suite (each scenario has a tenant, a site and folders of its own, so their
// counts do not mix), scenarios one after another, and the platform made whole again after each, whatever it broke.
import type { FaultContext } from './context.ts';
import { createSource } from './context.ts';
import { startFaultPlatform, type FaultPlatform } from './platform.ts';
import type { Scenario, ScenarioResult } from './scenario.ts';
import { allScenarios } from './scenarios.ts';
import { checkTheAudit } from './self-check.ts';
import { isUndoing, needsUndo } from './undo.ts';

export interface SuiteOptions {
  quick: boolean;
  /** Scenarios whose name contains one of these (all when empty). */
  only?: string[];
  log: (msg: string) => void;
}

export function pickScenarios(opts: Pick<SuiteOptions, 'quick' | 'only'>): Scenario[] {
  return allScenarios().filter(
    (s) =>
      (s.mode === 'both' || s.mode === (opts.quick ? 'quick' : 'full')) &&
      (!opts.only?.length || opts.only.some((o) => s.name.includes(o))),
  );
}

export interface SuiteResult {
  /** What the audit failed to count when damage was made on purpose: the results mean nothing unless empty. */
  auditMissed: string[];
  results: ScenarioResult[];
}

export async function runSuite(opts: SuiteOptions): Promise<SuiteResult> {
  const scenarios = pickScenarios(opts);
  if (scenarios.length === 0) throw new Error(`no scenario matches --only ${opts.only?.join(',')}`);
  const fp = await startFaultPlatform();
  const stopPlatform = needsUndo('the platform', () => fp.stop());
  const dropSources: (() => Promise<void>)[] = [];
  try {
    // Big enough that its dump takes seconds and passes the byte offsets the site kills wait for.
    const big = await createSource(opts.quick ? 100_000 : 200_000);
    dropSources.push(needsUndo(`database ${big.name}`, () => big.drop()));
    const small = await createSource(500);
    dropSources.push(needsUndo(`database ${small.name}`, () => small.drop()));
    const ctx: FaultContext = { fp, quick: opts.quick, log: opts.log, big, small };
    opts.log('audit self-check…');
    const auditMissed = await checkTheAudit(ctx).catch((err: unknown) => [`self-check failed: ${errorText(err)}`]);
    const results: ScenarioResult[] = [];
    for (const s of scenarios) {
      if (isUndoing()) break;
      const t0 = performance.now();
      opts.log(`${s.name}…`);
      let r: Omit<ScenarioResult, 'seconds'>;
      try {
        r = await s.run(ctx);
      } catch (err) {
        r = { name: s.name, audit: undefined, problems: [`did not finish: ${errorText(err)}`], notes: [] };
      }
      if (isUndoing()) break;
      await heal(fp);
      results.push({ ...r, seconds: (performance.now() - t0) / 1000 });
    }
    return { auditMissed, results };
  } finally {
    for (const drop of dropSources) await drop().catch(() => {});
    await stopPlatform();
  }
}

/** Whatever a scenario stopped (even one that threw half way) runs again before the next one starts. */
async function heal(fp: FaultPlatform): Promise<void> {
  await fp.startTemporal();
  await fp.stack.metadataServer?.start();
  const c = fp.central().child;
  if (c.exitCode !== null || c.signalCode !== null) await fp.startCentral();
}

export const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));
