// Reading an application's file list and deletion log for an object mirror: PostgreSQL or MariaDB, in a read-only
// transaction (the site's configuration should also log in as a user with read-only rights), every configured name
// checked and quoted, every value a parameter or a literal no sql_mode can misread.
import { BackupError } from '../../common/errors.ts';
import { MIRROR_IDENT_RE, MIRROR_TABLE_RE, type MirrorLayout } from '../../common/mirror.ts';
import { lit, mariadbQuery, quoteIdent as myIdent } from '../engines/mariadb-sql.ts';
import { quoteIdent as pgIdent, withSql } from '../engines/postgres-sql.ts';
import type { ServerConnection } from '../site-config.ts';

export interface SourceFile {
  id: string;
  name: string | null;
  path: string;
  storage: string;
  version: number;
  hash: string;
  url: string;
}

export interface SourceDeletion {
  fileId: string;
  deletedAt: Date;
  storage: string;
  path: string;
  version: number;
}

type Quote = (s: string) => string;

/** The layout's names quoted for the engine; a name that is not a plain identifier is the admin's to fix. */
function names(layout: MirrorLayout, quote: Quote) {
  const q = (field: keyof MirrorLayout, re: RegExp) => {
    const v = layout[field];
    if (!re.test(v))
      throw new BackupError('invalid', `mirror layout ${field} '${v}' is not a plain SQL name: fix the mirror`, {
        code: 'MirrorLayoutInvalid',
      });
    return v.split('.').map(quote).join('.');
  };
  const col = (f: keyof MirrorLayout) => q(f, MIRROR_IDENT_RE);
  return {
    files: q('filesTable', MIRROR_TABLE_RE),
    deleteLog: q('deleteLogTable', MIRROR_TABLE_RE),
    id: col('idColumn'),
    name: col('nameColumn'),
    path: col('pathColumn'),
    storage: col('storageColumn'),
    version: col('versionColumn'),
    hash: col('hashColumn'),
    url: col('urlColumn'),
    fileId: col('deleteFileIdColumn'),
    deletedAt: col('deletedAtColumn'),
  };
}

/** Rows after `cursor` in Id order, at most `limit`. */
export async function readNewFiles(
  conn: ServerConnection,
  database: string,
  layout: MirrorLayout,
  cursor: string | null,
  limit: number,
): Promise<SourceFile[]> {
  if (conn.engine === 'postgresql') {
    const n = names(layout, pgIdent);
    const cols = `${n.id}::text as id, ${n.name}::text as name, ${n.path}::text as path, ${n.storage}::text as storage, ${n.version}::bigint as version, ${n.hash}::text as hash, ${n.url}::text as url`;
    const rows = await withSql(conn, database, (sql) =>
      sql.begin('read only', (tx) =>
        cursor === null
          ? tx.unsafe(`select ${cols} from ${n.files} order by ${n.id} limit $1`, [limit])
          : tx.unsafe(`select ${cols} from ${n.files} where ${n.id} > $1 order by ${n.id} limit $2`, [cursor, limit]),
      ),
    );
    return rows.map((r) => ({ ...(r as unknown as SourceFile), version: Number(r.version) }));
  }
  if (conn.engine === 'mariadb') {
    const n = names(layout, myIdent);
    const where = cursor === null ? '' : `WHERE ${n.id} > ${lit(cursor)}`;
    const rows = await mariadbReadOnly(
      conn,
      database,
      `SELECT CAST(${n.id} AS CHAR), ${n.name}, ${n.path}, ${n.storage}, CAST(${n.version} AS SIGNED), ${n.hash}, ${n.url} FROM ${n.files} ${where} ORDER BY ${n.id} LIMIT ${Math.floor(limit)};`,
    );
    return rows.map(([id, name, path, storage, version, hash, url]) => ({
      id: id!,
      name: name === 'NULL' ? null : name!,
      path: path!,
      storage: storage!,
      version: Number(version),
      hash: hash!,
      url: url!,
    }));
  }
  throw new BackupError('invalid', `an object mirror reads PostgreSQL or MariaDB, not ${conn.engine}`);
}

/** Deletions logged in [since, dueBefore): old enough to apply, with the path and version of the row they delete. */
export async function readDueDeletions(
  conn: ServerConnection,
  database: string,
  layout: MirrorLayout,
  since: Date | null,
  dueBefore: Date,
): Promise<SourceDeletion[]> {
  const from = since ?? new Date(0);
  if (conn.engine === 'postgresql') {
    const n = names(layout, pgIdent);
    const rows = await withSql(conn, database, (sql) =>
      sql.begin('read only', (tx) =>
        tx.unsafe(
          `select d.${n.fileId}::text as "fileId", d.${n.deletedAt} as "deletedAt", f.${n.storage}::text as storage, f.${n.path}::text as path, f.${n.version}::bigint as version
           from ${n.deleteLog} d join ${n.files} f on f.${n.id} = d.${n.fileId}
           where d.${n.deletedAt} >= $1 and d.${n.deletedAt} < $2 order by d.${n.deletedAt}`,
          [from.toISOString(), dueBefore.toISOString()],
        ),
      ),
    );
    return rows.map((r) => ({ ...(r as unknown as SourceDeletion), version: Number(r.version) }));
  }
  const n = names(layout, myIdent);
  const at = (d: Date) => lit(d.toISOString().slice(0, 23).replace('T', ' '));
  const rows = await mariadbReadOnly(
    conn,
    database,
    `SELECT CAST(d.${n.fileId} AS CHAR), DATE_FORMAT(d.${n.deletedAt}, '%Y-%m-%dT%H:%i:%sZ'), f.${n.storage}, f.${n.path}, CAST(f.${n.version} AS SIGNED)
     FROM ${n.deleteLog} d JOIN ${n.files} f ON f.${n.id} = d.${n.fileId}
     WHERE d.${n.deletedAt} >= ${at(from)} AND d.${n.deletedAt} < ${at(dueBefore)} ORDER BY d.${n.deletedAt};`,
  );
  return rows.map(([fileId, deletedAt, storage, path, version]) => ({
    fileId: fileId!,
    deletedAt: new Date(deletedAt!),
    storage: storage!,
    path: path!,
    version: Number(version),
  }));
}

/** MariaDB in UTC and a read-only transaction: a write through the mirror's login fails even if its rights allow it. */
const mariadbReadOnly = (conn: ServerConnection, database: string, select: string) =>
  mariadbQuery(conn, database, `SET time_zone = '+00:00'; START TRANSACTION READ ONLY; ${select} COMMIT;`);
