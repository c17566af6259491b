// Every scenario of the suite, in the order it runs them.
import type { Scenario } from './scenario.ts';
import { siteKillScenarios } from './site-kill.ts';

export function allScenarios(): Scenario[] {
  return [...siteKillScenarios];
}
