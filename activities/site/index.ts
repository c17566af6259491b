// Activities that run at a site, on the site's task queue: they touch its databases and disks. Each takes names
// (server, database, file), never credentials, and returns references, never data. One file per activity; this
// barrel gives the worker (and, by type, the workflows) the set under the names the Web UI shows.
import { createApplyGlobals } from './apply-globals.ts';
import { createCheckCopies, createVerifyCopies } from './checks.ts';
import { createCleanTables } from './clean-tables.ts';
import { createSiteContext, heartbeating, type SiteDeps } from './context.ts';
import { createDeleteCopies } from './delete-copies.ts';
import { createDiscoverDatabases } from './discover-databases.ts';
import { createDropDatabase } from './drop-database.ts';
import { createDryRun } from './dry-run.ts';
import { createDump } from './dump.ts';
import { createDumpGlobals } from './dump-globals.ts';
import { createFileBackup } from './file-backup.ts';
import { createFileRestore } from './file-restore.ts';
import { createInspectRestore } from './inspect-restore.ts';
import { createApplyMirrorDeletions, createMirrorObjects } from './mirror.ts';
import { createRestore } from './restore.ts';
import { createDropRestoreStaging, createSweepRestoreScratch } from './restore-scratch.ts';
import { createSendCopy } from './send-copy.ts';
import { createSweepTenantFiles } from './sweep-tenant.ts';
import { createUpload } from './upload.ts';

export function createSiteActivities(deps: SiteDeps) {
  const site = createSiteContext(deps);
  return {
    // The short steps heartbeat too (the quick proxy has a heartbeat timeout): a worker that dies in one is noticed
    // in seconds. The long ones heartbeat their own progress.
    cleanTables: heartbeating(createCleanTables(site)),
    dump: createDump(site),
    fileBackup: createFileBackup(site),
    fileRestore: createFileRestore(site),
    upload: createUpload(site),
    deleteCopies: heartbeating(createDeleteCopies(site)),
    checkCopies: createCheckCopies(site),
    sendCopy: createSendCopy(site),
    restore: createRestore(site),
    verifyCopies: createVerifyCopies(site),
    inspectRestore: heartbeating(createInspectRestore(site)),
    dropDatabase: heartbeating(createDropDatabase(site)),
    dropRestoreStaging: heartbeating(createDropRestoreStaging(site)),
    sweepRestoreScratch: heartbeating(createSweepRestoreScratch(site)),
    dryRun: heartbeating(createDryRun(site)),
    discoverDatabases: heartbeating(createDiscoverDatabases(site)),
    sweepTenantFiles: heartbeating(createSweepTenantFiles(site)),
    dumpGlobals: heartbeating(createDumpGlobals(site)),
    applyGlobals: heartbeating(createApplyGlobals(site)),
    mirrorObjects: createMirrorObjects(site),
    applyMirrorDeletions: heartbeating(createApplyMirrorDeletions(site)),
  };
}

export type SiteActivities = ReturnType<typeof createSiteActivities>;
