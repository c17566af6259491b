// The suite's report: one line per scenario with its counts, a total line, then what each failure is made of.
import { losses, passed, type ScenarioResult } from './scenario.ts';

const COLUMNS = ['scenario', 'runs', 'good', 'dup rows', 'orphans', 'stuck', 'lost', 'result', 's'] as const;

export function formatTable(results: ScenarioResult[]): string {
  const cell = (n: number | undefined) => (n === undefined ? '-' : String(n));
  const lines: string[][] = results.map((r) => [
    r.name,
    cell(r.audit?.runs),
    cell(r.audit?.good),
    cell(r.audit?.duplicates),
    cell(r.audit?.orphans),
    cell(r.audit?.stuck),
    cell(r.audit?.lost),
    passed(r) ? 'ok' : 'FAIL',
    r.seconds.toFixed(0),
  ]);
  const sum = (f: (r: ScenarioResult) => number | undefined) => String(results.reduce((s, r) => s + (f(r) ?? 0), 0));
  const failed = results.filter((r) => !passed(r)).length;
  lines.push([
    `total (${results.length} scenarios)`,
    sum((r) => r.audit?.runs),
    sum((r) => r.audit?.good),
    sum((r) => r.audit?.duplicates),
    sum((r) => r.audit?.orphans),
    sum((r) => r.audit?.stuck),
    sum((r) => r.audit?.lost),
    failed ? `${failed} FAIL` : 'ok',
    String(Math.round(results.reduce((s, r) => s + r.seconds, 0))),
  ]);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  const out = [row(COLUMNS), rule, ...lines.slice(0, -1).map(row), row(lines.at(-1)!)];
  for (const r of results) {
    const why = [...r.problems, ...(r.audit?.details ?? [])];
    if (!passed(r) && r.audit && losses(r.audit) === 0 && why.length === 0) why.push('failed');
    for (const w of why) out.push(`  ${r.name}: ${w}`);
    for (const n of r.notes) out.push(`  ${r.name} (note): ${n}`);
  }
  return out.join('\n');
}
