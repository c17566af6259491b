// A site worker's file backup in a process of its own, so a test can kill it mid-archive (SIGKILL, as a crash):
// argv: site config path, then the activity input as JSON. Runs it as attempt 1.
import { MockActivityEnvironment } from '@temporalio/testing';
import { createLogger } from '../../common/logger.ts';
import { createSiteActivities } from '../../activities/site/index.ts';
import { SiteConfig } from '../../activities/site-config.ts';

const [cfgPath, inputJson] = process.argv.slice(2);
const acts = createSiteActivities({
  config: await SiteConfig.load(cfgPath!),
  identity: { tenantId: 't', siteId: 's' },
  logger: createLogger('file-backup-child'),
});
const env = new MockActivityEnvironment({ attempt: 1, heartbeatTimeoutMs: 60_000 });
await env.run(acts.fileBackup, JSON.parse(inputJson!));
