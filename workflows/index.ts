export { backupWorkflow } from './backup.ts';
