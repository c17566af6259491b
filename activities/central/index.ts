// Activities on the central worker: the ones that read or write the metadata database or tenant-wide state. One file
// per concern; this barrel gives the worker (and, by type, the workflows) the set under the names the Web UI shows.
import { createAlert } from './alerts.ts';
import { createTestChannel } from './channel-test.ts';
import { createCentralContext, type CentralDeps } from './context.ts';
import { createEraseTenantSchedules, createEraseTenantWorkflows, createPlanTenantErasure } from './erasure.ts';
import { createDeleteTenantRows, createFinishTenantErasure } from './erasure-rows.ts';
import { createListCopiesToCheck, createRecordCheckResults } from './copy-checks.ts';
import { createMarkCopiesDeleted, createPlanPrune, createRecordCopy, createRecordRepair } from './copies.ts';
import { createRecordBackup, createRecordBackupStarted } from './history.ts';
import {
  createLoadMirrorPlan,
  createMarkMirrorAlerted,
  createRecordMirrorBatch,
  createRecordMirrorDeletions,
  createRecordMirrorRun,
} from './mirrors.ts';
import { createFindMissedBackups, createMarkMissedAlerted } from './missed-backups.ts';
import { createLoadBackupPlan, createRunTuning } from './plans.ts';
import { createLoadRestorePlan, createPlanDrill, createRecordRestore } from './restores.ts';
import { createWatchSites } from './site-watch.ts';
import { createSettleStuckRuns } from './stuck-runs.ts';
import { createFindVanishedDatabases, createMarkVanishedDatabases } from './vanished-databases.ts';

export function createCentralActivities(deps: CentralDeps) {
  const central = createCentralContext(deps);
  return {
    runTuning: createRunTuning(central),
    loadBackupPlan: createLoadBackupPlan(central),
    recordBackupStarted: createRecordBackupStarted(central),
    recordBackup: createRecordBackup(central),
    recordCopy: createRecordCopy(central),
    planPrune: createPlanPrune(central),
    markCopiesDeleted: createMarkCopiesDeleted(central),
    listCopiesToCheck: createListCopiesToCheck(central),
    recordCheckResults: createRecordCheckResults(central),
    recordRepair: createRecordRepair(central),
    loadRestorePlan: createLoadRestorePlan(central),
    recordRestore: createRecordRestore(central),
    planDrill: createPlanDrill(central),
    findMissedBackups: createFindMissedBackups(central),
    markMissedAlerted: createMarkMissedAlerted(central),
    settleStuckRuns: createSettleStuckRuns(central),
    findVanishedDatabases: createFindVanishedDatabases(central),
    markVanishedDatabases: createMarkVanishedDatabases(central),
    alert: createAlert(central),
    eraseTenantSchedules: createEraseTenantSchedules(central),
    eraseTenantWorkflows: createEraseTenantWorkflows(central),
    planTenantErasure: createPlanTenantErasure(central),
    deleteTenantRows: createDeleteTenantRows(central),
    finishTenantErasure: createFinishTenantErasure(central, deps.erasureSigningKeyFile),
    loadMirrorPlan: createLoadMirrorPlan(central),
    recordMirrorRun: createRecordMirrorRun(central),
    recordMirrorBatch: createRecordMirrorBatch(central),
    recordMirrorDeletions: createRecordMirrorDeletions(central),
    markMirrorAlerted: createMarkMirrorAlerted(central),
    watchSites: createWatchSites(central),
    testChannel: createTestChannel(central),
  };
}

export type CentralActivities = ReturnType<typeof createCentralActivities>;
