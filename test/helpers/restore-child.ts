// Runs the site's `restore` activity in a process of its own, as a site worker would, and prints its outcome as one
// JSON line. An exception nobody catches ends this process with a non-zero code, as it would end a site worker.
// Usage: node restore-child.ts '<{"siteConfig":…,"backup":…,"target":…}>'
import { restoreBackup, type BackupRow } from './engine-sites.ts';
import type { SiteConfigInput } from '../../activities/site-config.ts';

const { siteConfig, backup, target } = JSON.parse(process.argv[2]!) as {
  siteConfig: SiteConfigInput;
  backup: BackupRow;
  target: Parameters<typeof restoreBackup>[2];
};
try {
  const result = await restoreBackup(siteConfig, backup, target);
  console.log(JSON.stringify({ ok: true, result }));
} catch (e) {
  const f = e as { type?: string; nonRetryable?: boolean; message?: string };
  console.log(
    JSON.stringify({
      ok: false,
      type: f.type ?? null,
      nonRetryable: f.nonRetryable ?? null,
      message: f.message ?? String(e),
    }),
  );
}
