// A scenario breaks one thing during real runs, lets the platform recover, and answers the audited state with what
// it expected; the runner prints one line per scenario.
import { audit, type Audit } from './audit.ts';
import type { FaultContext, Tenant } from './context.ts';

export interface Scenario {
  name: string;
  /** Which suite runs it: `--quick` (part of `npm test`), the full one, or both. */
  mode: 'both' | 'quick' | 'full';
  run(ctx: FaultContext): Promise<Omit<ScenarioResult, 'seconds'>>;
}

export interface ScenarioResult {
  name: string;
  audit: Audit | undefined;
  /** Where the scenario did not reach its expected outcome; empty when it did. */
  problems: string[];
  /** What happened that is worth a line (e.g. a kill point the run passed before the suite saw it). */
  notes: string[];
  seconds: number;
}

export interface Expected {
  /** Exact counts, or a check of their own. */
  runs?: number;
  good?: number;
}

/** Audits the tenant and adds to `problems` every count that is not what the scenario expected. */
export async function outcome(
  ctx: FaultContext,
  name: string,
  t: Tenant,
  expected: Expected,
  extra: { problems?: string[]; notes?: string[] } = {},
): Promise<Omit<ScenarioResult, 'seconds'>> {
  const a = await audit(ctx, t);
  const problems = [...(extra.problems ?? [])];
  if (expected.runs !== undefined && a.runs !== expected.runs)
    problems.push(`expected ${expected.runs} run(s), found ${a.runs}`);
  if (expected.good !== undefined && a.good !== expected.good)
    problems.push(`expected ${expected.good} good backup(s), found ${a.good}`);
  return { name, audit: a, problems, notes: extra.notes ?? [] };
}

/** A loss column that is not zero fails the scenario whatever it expected. */
export const losses = (a: Audit) => a.duplicates + a.orphans + a.stuck + a.lost;

export const passed = (r: ScenarioResult) => r.audit !== undefined && r.problems.length === 0 && losses(r.audit) === 0;
