// One interface per database engine. An engine knows its dump tool and catalogue; the activities own the
// pipeline (compression, hashing, files), so a new engine is one small file.
import type { Readable } from 'node:stream';
import type { Engine } from '../../db/schema.ts';
import type { ServerConnection } from '../site-config.ts';

export interface DumpStream {
  /** The dump tool's output, uncompressed. */
  stdout: Readable;
  /** Resolves when the tool exited cleanly; rejects with a classified BackupError otherwise. */
  done: Promise<void>;
  kill(): void;
}

export interface DatabaseEngine {
  readonly name: Engine;
  /** File extension of the dump format, e.g. `pgdump`. */
  readonly format: string;
  /** Checks that each table exists and returns names the dump tool takes literally. Also proves the login works. */
  resolveTables(conn: ServerConnection, database: string, tables: string[]): Promise<string[]>;
  dump(conn: ServerConnection, database: string, opts: { excludeTableData: string[] }): DumpStream;
}
