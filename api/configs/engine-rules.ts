// What a configuration may hold depends on its server's engine: a MongoDB drill's assertions are JSON queries, not
// SQL, and are checked here so that an unsafe one is a 400 when it is saved rather than a failed drill later.
import { BackupError, invalid } from '../../common/errors.ts';
import type { Engine } from '../../common/model.ts';
import { parseMongoAssertion } from '../../common/mongo-assertion.ts';
import type { ConfigRow } from './schemas.ts';

export function checkEngineRules(engine: Engine, row: Pick<ConfigRow, 'drill'>): void {
  if (engine !== 'mongodb') return;
  for (const [i, text] of (row.drill?.assertions ?? []).entries()) {
    try {
      parseMongoAssertion(text);
    } catch (err) {
      throw err instanceof BackupError ? invalid(err.message, `drill.assertions.${i}`) : err;
    }
  }
}
