// `npm run db:migrate`: applies the committed migrations to DATABASE_URL (or the embedded database).
import { databaseEnv, parseEnv } from '../common/config.ts';
import { openDb } from './client.ts';

const handle = await openDb(parseEnv(databaseEnv), { migrate: true });
await handle.close();
console.log(`migrations applied (${handle.kind})`);
