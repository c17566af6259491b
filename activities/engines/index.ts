// Every engine by the name a server's configuration gives it. A new engine is one file plus one line here.
import { BackupError } from '../../common/errors.ts';
import type { Engine } from '../../common/model.ts';
import type { DatabaseEngine } from './engine.ts';
import { mariadbEngine } from './mariadb.ts';
import { mongodbEngine } from './mongodb.ts';
import { postgresEngine } from './postgres.ts';
import { sqliteEngine } from './sqlite.ts';

export const engines = {
  postgresql: postgresEngine,
  mariadb: mariadbEngine,
  /** MySQL speaks the same protocol and ships the same tools under its own names (mysql, mysqldump). */
  mysql: mariadbEngine,
  sqlite: sqliteEngine,
  mongodb: mongodbEngine,
} as const satisfies Record<Engine | 'mariadb' | 'mysql' | 'sqlite', DatabaseEngine>;

export type EngineKey = keyof typeof engines;

export function engineFor(name: string): DatabaseEngine {
  const engine = (engines as Record<string, DatabaseEngine>)[name];
  if (!engine || !Object.hasOwn(engines, name)) {
    throw new BackupError(
      'invalid',
      `unknown database engine '${name}': use one of ${Object.keys(engines).join(', ')}`,
      { code: 'UnknownEngine' },
    );
  }
  return engine;
}
