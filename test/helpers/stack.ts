// The whole platform for one test file, on real parts (ops/dev/stack.ts's throw-away one: a metadata database on the
// machine's PostgreSQL, a Temporal dev server of its own, the central worker and the API in this process, site
// workers as child processes so a test can kill one), with the API's and central worker's log lines captured.
import { createLogger, type Logger } from '../../common/logger.ts';
import { LogCapture } from '../../ops/dev/log-capture.ts';
import { startScratchPlatform, type ScratchPlatform } from '../../ops/dev/stack.ts';

export { LogCapture } from '../../ops/dev/log-capture.ts';
export type { SiteWorkerProcess } from '../../ops/dev/site-worker.ts';
export { signup } from '../../ops/dev/fixtures.ts';
export { waitFor } from '../../ops/dev/wait.ts';

export interface Stack extends ScratchPlatform {
  logs: LogCapture;
  logger: Logger;
}

/**
 * `opts.env` adds to (or overrides) the central worker's settings, e.g. a shorter site pick-up timeout;
 * `privateMetadataServer` puts the metadata database on a server of its own that the test may halt (an outage);
 * `temporalStateFile` lets a test stop Temporal and start it again with its schedules (an outage).
 */
export async function startStack(
  opts: Omit<Parameters<typeof startScratchPlatform>[0], 'logger'> = {},
): Promise<Stack> {
  const logs = new LogCapture();
  const logger = createLogger('backup-test', logs);
  const platform = await startScratchPlatform({ logger, ...opts });
  return { ...platform, logs, logger };
}

/** Waits for every start-up to settle, then throws the first failure: nothing is left running unseen. */
export async function settleAll(starts: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(starts)).find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/** A run's Temporal history as text with every payload decoded, so a search for a secret looks inside the payloads. */
export async function historyText(stack: Stack, workflowId: string): Promise<string> {
  const json = JSON.stringify(await stack.temporal.client.workflow.getHandle(workflowId).fetchHistory());
  return json.replace(
    /"data":"([A-Za-z0-9+/]*={0,2})"/g,
    (_m, b64: string) => `"data":${JSON.stringify(Buffer.from(b64, 'base64').toString('utf8'))}`,
  );
}
