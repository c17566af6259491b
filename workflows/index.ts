export { backupWorkflow, dryRunWorkflow } from './backup.ts';
export { pruneWorkflow } from './prune.ts';
export { drillWorkflow, restoreWorkflow } from './restore.ts';
export { syncWorkflow } from './sync.ts';
export { transferWorkflow } from './transfer.ts';
export { verifyWorkflow, watchdogWorkflow } from './verify.ts';
export { eraseTenantWorkflow } from './erase-tenant.ts';
export { mirrorWorkflow } from './mirror.ts';
export { channelTestWorkflow, siteWatchWorkflow } from './notify.ts';
