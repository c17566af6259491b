// applyGlobals: a PostgreSQL server's globals file, proven and decoded, applied around a restore: the roles before,
// the restored database's owner, grants and settings after.
import { createHash } from 'node:crypto';
import { Readable, type Transform } from 'node:stream';
import { Context } from '@temporalio/activity';
import { BackupError, invalid } from '../../common/errors.ts';
import { parseBackupFileName } from '../../common/names.ts';
import type { CopyRef } from '../contracts.ts';
import { parsePgGlobals } from '../engines/postgres-globals.ts';
import {
  applyPgDatabase,
  applyPgRoles,
  type DatabaseApplied,
  type RolesApplied,
} from '../engines/postgres-globals-apply.ts';
import { asActivity } from '../failure.ts';
import { decompressStream } from '../pipeline/compression.ts';
import { openSealed } from '../pipeline/envelope.ts';
import { withHeartbeat, type SiteContext } from './context.ts';
import { GLOBALS_FORMAT_EXT, postgresOnly } from './dump-globals.ts';

/** A globals file is a few kilobytes per role; anything near this is not one. */
const MAX_GLOBALS_BYTES = 64 << 20;

export interface ApplyGlobalsInput {
  /** The globals file's copy; its size and SHA-256 are checked before anything is applied. */
  source: CopyRef;
  sizeBytes: number;
  sha256: string;
  fileName: string;
  serverName: string;
  /**
   * `roles`: make the roles the server lacks, their settings and memberships (before the restore).
   * `database`: give `database` the owner, grants and settings `sourceDatabase` had (after it).
   */
  step: 'roles' | 'database';
  sourceDatabase: string;
  database: string;
}

export type ApplyGlobalsResult =
  { step: 'roles'; roles: RolesApplied } | { step: 'database'; database: DatabaseApplied };

export function createApplyGlobals(site: SiteContext) {
  /**
   * Reads a globals copy (proven by size and SHA-256, decrypted, decompressed, parsed against the one shape this
   * platform writes) and applies one step of it. Safe to run twice: what exists is left, what is set is set again.
   */
  return async function applyGlobals(input: ApplyGlobalsInput): Promise<ApplyGlobalsResult> {
    return asActivity(async () => {
      const log = site.runLogger({ server: input.serverName, database: input.database, target: input.source.target });
      const parsed = parseBackupFileName(input.fileName);
      if (parsed?.format !== GLOBALS_FORMAT_EXT) throw invalid(`'${input.fileName}' is not a globals file`);
      const { conn, engine } = await site.engineFor(input.serverName);
      if (engine.name !== 'postgresql') throw postgresOnly(input.serverName, engine.name);
      const masterKey = parsed.encrypted ? await site.requireMasterKey() : undefined;
      const bytes = await withHeartbeat({ phase: 'globals', step: input.step }, () =>
        site.withStorage(input.source.target, (storage) => readCopy(storage, input)),
      );
      const text = await decode(bytes, parsed.compression === 'gz' ? 'gzip' : 'zstd', masterKey, input);
      const globals = parsePgGlobals(text);
      if (input.step === 'roles') {
        const roles = await applyPgRoles(conn, globals);
        log.info(
          {
            created: roles.created.length,
            kept: roles.kept.length,
            memberships: roles.membershipsGranted,
            missing_tablespaces: roles.missingTablespaces,
          },
          'globals applied: roles',
        );
        return { step: 'roles', roles };
      }
      const database = await applyPgDatabase(conn, globals, input.sourceDatabase, input.database);
      log.info({ owner: database.owner, grants: database.grants }, 'globals applied: database');
      return { step: 'database', database };
    });
  };
}

/** The whole copy, refused unless its size and SHA-256 are the recorded ones. */
async function readCopy(
  storage: { get(key: string, opts?: { signal?: AbortSignal }): Promise<Readable> },
  input: ApplyGlobalsInput,
): Promise<Buffer> {
  if (input.sizeBytes > MAX_GLOBALS_BYTES) throw invalid(`the globals file is ${input.sizeBytes} bytes: too big`);
  const body = await storage.get(input.source.key, { signal: Context.current().cancellationSignal });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > input.sizeBytes) break;
    chunks.push(chunk as Buffer);
  }
  body.destroy();
  const bytes = Buffer.concat(chunks);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (size !== input.sizeBytes || sha256 !== input.sha256)
    throw new BackupError(
      'invalid',
      `the globals copy at ${input.source.target} does not match the backup (${size} bytes, SHA-256 ${sha256}): it is not applied`,
      { code: 'CopyCorrupt' },
    );
  return bytes;
}

async function decode(
  bytes: Buffer,
  algorithm: 'zstd' | 'gzip',
  masterKey: Buffer | undefined,
  input: ApplyGlobalsInput,
): Promise<string> {
  const steps: Transform[] = [...(masterKey ? [openSealed(masterKey)] : []), decompressStream(algorithm)];
  const out: Buffer[] = [];
  let size = 0;
  try {
    const decoded = steps.reduce<Readable>((from, step) => from.pipe(step), Readable.from([bytes]));
    steps.forEach((step, i) => (i === 0 ? undefined : steps[i - 1]!.on('error', (e) => step.destroy(e))));
    for await (const chunk of decoded) {
      size += (chunk as Buffer).length;
      if (size > MAX_GLOBALS_BYTES) throw invalid('the globals file decompresses to more than 64 MiB');
      out.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof BackupError) throw err;
    throw new BackupError(
      'invalid',
      `the globals copy at ${input.source.target} could not be decoded (${(err as Error).message}): it is damaged`,
      { code: 'BackupTampered' },
    );
  }
  return Buffer.concat(out).toString('utf8');
}
