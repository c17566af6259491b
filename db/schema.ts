// The metadata schema: every table, the one place drizzle-kit (drizzle.config.ts) and the typed client (db/client.ts)
// read them from. Every tenant-owned row carries tenant_id, and every query the API makes filters on it. The platform's
// vocabulary (roles, engines, states, SITE_TARGET) is common/model.ts's, imported from there.
export * from './schema/tenancy.ts';
export * from './schema/sites.ts';
export * from './schema/configs.ts';
export * from './schema/backups.ts';
export * from './schema/restores.ts';
export * from './schema/audit.ts';
export * from './schema/erasure.ts';
export * from './schema/mirrors.ts';
export * from './schema/notifications.ts';
