export { backupWorkflow, dryRunWorkflow } from './backup.ts';
export { pruneWorkflow } from './prune.ts';
export { syncWorkflow } from './sync.ts';
export { transferWorkflow } from './transfer.ts';
