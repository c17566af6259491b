// dumpGlobals: a PostgreSQL server's roles, memberships, role settings, tablespaces and the owners, grants and
// settings of the run's databases, kept as a file of their own beside the run's dumps: JSON → compression →
// (encryption) → SHA-256 → a partial file, fsynced, published under the run's name, like a dump.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { BackupError, invalid } from '../../common/errors.ts';
import { DEFAULT_COMPRESSION, GLOBALS_DATABASE, type Compression } from '../../common/model.ts';
import { parseBackupFileName } from '../../common/names.ts';
import type { DumpResult } from '../contracts.ts';
import { diskFault, makeFolder, type WritePlace } from '../disk-faults.ts';
import { readPgGlobals } from '../engines/postgres-globals.ts';
import { asActivity } from '../failure.ts';
import { fsyncDir } from '../fsync.ts';
import { compressStream } from '../pipeline/compression.ts';
import { keyId, sealStream } from '../pipeline/envelope.ts';
import { withHeartbeat, type SiteContext } from './context.ts';
import { publish, removeEarlierPartials, sha256File } from './files.ts';
import { meter } from './streams.ts';

export const GLOBALS_FORMAT_EXT = 'json';

export interface DumpGlobalsInput {
  serverName: string;
  fileName: string;
  /** The run's databases: their owners, grants and settings go into the file. */
  databases: string[];
  /** Role password hashes too: only into an encrypted file. */
  rolePasswords: boolean;
  compression?: Compression;
  encrypt?: boolean;
}

export const postgresOnly = (serverName: string, engine: string) =>
  invalid(`server '${serverName}' is ${engine}: globals are PostgreSQL's (turn globals off in this configuration)`);

/** Where the file goes and how it is sealed, settled before anything is read. */
interface GlobalsTarget {
  dir: string;
  finalPath: string;
  place: WritePlace;
  compression: Compression;
  masterKey: Buffer | undefined;
  result: (sizeBytes: number, sha256: string, rawBytes: number) => DumpResult;
}

export function createDumpGlobals(site: SiteContext) {
  /**
   * The server's globals into the run's globals file. Role password hashes only when asked and the file is
   * encrypted. Idempotent like `dump`: a retry that finds the published file reports it.
   */
  return async function dumpGlobals(input: DumpGlobalsInput): Promise<DumpResult> {
    return asActivity(async () => {
      const ctx = Context.current();
      const log = site.runLogger({ server: input.serverName, database: GLOBALS_DATABASE });
      const parsed = parseBackupFileName(input.fileName);
      if (parsed?.database !== GLOBALS_DATABASE || parsed.format !== GLOBALS_FORMAT_EXT)
        throw invalid(`file name '${input.fileName}' is not a globals file name`);
      if (input.rolePasswords && !input.encrypt)
        throw invalid('role passwords go only into encrypted backups: set encrypt to true, or rolePasswords to false');
      const { conn, engine } = await site.engineFor(input.serverName);
      if (engine.name !== 'postgresql') throw postgresOnly(input.serverName, engine.name);
      const target = await planTarget(site, input);
      const adopt = async () => {
        const size = (await stat(target.finalPath)).size;
        log.info({ file: { path: target.finalPath, size } }, 'globals file already complete from an earlier attempt');
        return target.result(size, await sha256File(target.finalPath), 0);
      };
      const existing = await stat(target.finalPath).catch(() => undefined);
      if (existing && ctx.info.attempt === 1)
        throw new BackupError('conflict', `globals file ${input.fileName} already exists at the site`, {
          code: 'FileExists',
        });
      if (existing) return adopt();
      const globals = await readPgGlobals(conn, input.databases, input.rolePasswords);
      const json = Buffer.from(JSON.stringify(globals));
      const written = await writeFile(target, input.fileName, json);
      if (!written) return adopt();
      log.info(
        {
          file: { path: target.finalPath, size: written.sizeBytes, hash: { sha256: written.sha256 } },
          roles: globals.roles.length,
          role_passwords: globals.rolePasswords,
        },
        'globals dumped',
      );
      return target.result(written.sizeBytes, written.sha256, json.length);
    });
  };
}

async function planTarget(site: SiteContext, input: DumpGlobalsInput): Promise<GlobalsTarget> {
  const compression = input.compression ?? DEFAULT_COMPRESSION;
  const masterKey = input.encrypt ? await site.requireMasterKey() : undefined;
  const dir = site.config.folder(input.serverName, GLOBALS_DATABASE);
  const finalPath = path.join(dir, input.fileName);
  const place = {
    folder: dir,
    otherwise: `choose another folder as backupsDir in the site configuration (${site.config.sourcePath})`,
  };
  await makeFolder(place);
  const result = (sizeBytes: number, sha256: string, rawBytes: number): DumpResult => ({
    fileName: input.fileName,
    path: path.relative(site.config.backupsDir, finalPath),
    sizeBytes,
    sha256,
    rawBytes,
    compression: compression.algorithm,
    encrypted: !!masterKey,
    keyId: masterKey ? keyId(masterKey) : null,
    tableCounts: [],
  });
  return { dir, finalPath, place, compression, masterKey, result };
}

/** The bytes into this attempt's partial file, published; undefined when another attempt published first. */
async function writeFile(
  t: GlobalsTarget,
  fileName: string,
  json: Buffer,
): Promise<{ sizeBytes: number; sha256: string } | undefined> {
  const ctx = Context.current();
  const partial = path.join(t.dir, `.${fileName}.${ctx.info.attempt}.partial`);
  const hash = createHash('sha256');
  const progress = { bytes: 0 };
  const published = await withHeartbeat(progress, async () => {
    try {
      await pipeline(
        [
          Readable.from([json]),
          compressStream(t.compression),
          ...(t.masterKey ? [sealStream(t.masterKey)] : []),
          meter((n, chunk) => {
            progress.bytes += n;
            hash.update(chunk);
          }),
          createWriteStream(partial, { flags: 'wx', flush: true }),
        ],
        { signal: ctx.cancellationSignal },
      );
      const done = await publish(partial, t.finalPath);
      await removeEarlierPartials(t.dir, fileName, ctx.info.attempt);
      await fsyncDir(t.dir);
      return done;
    } catch (err) {
      await rm(partial, { force: true });
      if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
      throw (await diskFault(err, t.place)) ?? err;
    }
  });
  return published ? { sizeBytes: progress.bytes, sha256: hash.digest('hex') } : undefined;
}
