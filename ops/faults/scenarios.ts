// Every scenario of the suite, in the order it runs them.
import { concurrencyScenarios } from './concurrency.ts';
import { processScenarios } from './process-kill.ts';
import { restoreScenarios } from './restore-kill.ts';
import type { Scenario } from './scenario.ts';
import { siteKillScenarios } from './site-kill.ts';
import { storageScenarios } from './storage-faults.ts';

export function allScenarios(): Scenario[] {
  return [...siteKillScenarios, ...processScenarios, ...storageScenarios, ...concurrencyScenarios, ...restoreScenarios];
}
