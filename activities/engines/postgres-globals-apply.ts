// Applying a PostgreSQL server's globals (postgres-globals.ts reads and validates them): the statements are written
// here from the file's validated fields, names quoted and values as literals; none of the file's text runs as SQL.
import type postgres from 'postgres';
import type { ServerConnection } from '../site-config.ts';
import { notGlobals, type PgGlobals } from './postgres-globals.ts';
import { MAINTENANCE_DB, quoteIdent, withSql } from './postgres-sql.ts';

/** Roles PostgreSQL makes itself (pg_*): never created. */
const PREDEFINED = /^pg_/;

const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;

/**
 * Settings a restore never sets on a role or database: they load code into the server's sessions. The rest are
 * values, which PostgreSQL checks against each setting's type when they are set.
 */
const UNSAFE_SETTING =
  /(^|\.)(session_preload_libraries|local_preload_libraries|shared_preload_libraries|dynamic_library_path)$/i;
/** Settings whose value is a list: each element is its own literal, as pg_dumpall writes them. */
const LIST_SETTINGS = new Set(['search_path', 'temp_tablespaces', 'default_text_search_config']);

/** `SET name TO value` for a `name=value` from the catalogue, or undefined when the setting is one never applied. */
function setClause(setting: string): string | undefined {
  const at = setting.indexOf('=');
  const name = setting.slice(0, at);
  const value = setting.slice(at + 1);
  if (UNSAFE_SETTING.test(name)) return undefined;
  if (!LIST_SETTINGS.has(name.toLowerCase())) return `set ${quoteIdent(name)} to ${literal(value)}`;
  const items = value
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map((x) => (x.startsWith('"') && x.endsWith('"') ? x.slice(1, -1).replaceAll('""', '"') : x));
  return `set ${quoteIdent(name)} to ${items.map(literal).join(', ')}`;
}

/** What applying the roles did, by name; nothing of a password. */
export interface RolesApplied {
  created: string[];
  /** Roles the server had already: left exactly as they were (attributes, password, settings). */
  kept: string[];
  membershipsGranted: number;
  /** Tablespaces the file names that the server lacks: never made by a restore (they are folders on the server). */
  missingTablespaces: string[];
  /** Settings not applied: they load libraries. */
  skippedSettings: string[];
}

/**
 * Makes the roles the server lacks, with their attributes (and password hashes when the file has them), then their
 * settings, then the memberships that are missing. A role that exists is not altered; nothing is dropped or revoked.
 * One transaction: all of it or none.
 */
export async function applyPgRoles(conn: ServerConnection, g: PgGlobals): Promise<RolesApplied> {
  return withSql(conn, MAINTENANCE_DB, (sql) =>
    sql.begin(async (tx) => {
      const existing = new Set((await tx<{ n: string }[]>`select rolname as n from pg_roles`).map((r) => r.n));
      const out: RolesApplied = {
        created: [],
        kept: [],
        membershipsGranted: 0,
        missingTablespaces: [],
        skippedSettings: [],
      };
      for (const r of g.roles) {
        if (PREDEFINED.test(r.name)) continue;
        if (existing.has(r.name)) {
          out.kept.push(r.name);
          continue;
        }
        const attrs = [
          r.superuser ? 'superuser' : 'nosuperuser',
          r.inherit ? 'inherit' : 'noinherit',
          r.createRole ? 'createrole' : 'nocreaterole',
          r.createDb ? 'createdb' : 'nocreatedb',
          r.login ? 'login' : 'nologin',
          r.replication ? 'replication' : 'noreplication',
          r.bypassRls ? 'bypassrls' : 'nobypassrls',
          `connection limit ${r.connectionLimit}`,
          ...(r.validUntil ? [`valid until ${literal(r.validUntil)}`] : []),
          ...(r.password ? [`password ${literal(r.password)}`] : []),
        ];
        await tx.unsafe(`create role ${quoteIdent(r.name)} with ${attrs.join(' ')}`);
        existing.add(r.name);
        out.created.push(r.name);
      }
      const created = new Set(out.created);
      // Only the roles made here get their settings: an existing role's settings are its own.
      for (const s of g.roleSettings) {
        if (!created.has(s.role) || s.database !== null) continue;
        for (const setting of s.settings) {
          const clause = setClause(setting);
          if (!clause) out.skippedSettings.push(`${s.role}: ${setting.split('=')[0]}`);
          else await tx.unsafe(`alter role ${quoteIdent(s.role)} ${clause}`);
        }
      }
      out.membershipsGranted = await grantMemberships(tx, g, existing);
      const spaces = new Set((await tx<{ n: string }[]>`select spcname as n from pg_tablespace`).map((r) => r.n));
      out.missingTablespaces = g.tablespaces.filter((t) => !spaces.has(t.name)).map((t) => t.name);
      return out;
    }),
  );
}

/** The memberships the server lacks, between roles it has; an existing membership is left as it is. */
async function grantMemberships(tx: postgres.TransactionSql, g: PgGlobals, roles: Set<string>): Promise<number> {
  const have = new Set(
    (
      await tx<{ k: string }[]>`
        select r.rolname || '/' || m.rolname as k
        from pg_auth_members a join pg_roles r on r.oid = a.roleid join pg_roles m on m.oid = a.member`
    ).map((r) => r.k),
  );
  let granted = 0;
  for (const m of g.memberships) {
    if (!roles.has(m.role) || !roles.has(m.member) || have.has(`${m.role}/${m.member}`)) continue;
    await tx.unsafe(`grant ${quoteIdent(m.role)} to ${quoteIdent(m.member)}${m.admin ? ' with admin option' : ''}`);
    granted++;
  }
  return granted;
}

/** One entry of an aclitem list: who has which privileges (PUBLIC is the empty grantee). */
interface Grant {
  grantee: string;
  privileges: { name: string; grantOption: boolean }[];
}

const DATABASE_PRIVILEGES: Record<string, string> = { C: 'create', T: 'temporary', c: 'connect' };

/** `grantee=privs/grantor`, names double-quoted (with "" inside) when they need it. */
export function parseAclItem(item: string): Grant {
  let i = 0;
  const name = (): string => {
    if (item[i] !== '"') {
      const start = i;
      while (i < item.length && item[i] !== '=' && item[i] !== '/') i++;
      return item.slice(start, i);
    }
    let out = '';
    i++;
    for (;;) {
      if (i >= item.length) throw notGlobals(`bad aclitem ${JSON.stringify(item)}`);
      if (item[i] === '"' && item[i + 1] === '"') {
        out += '"';
        i += 2;
      } else if (item[i] === '"') {
        i++;
        return out;
      } else out += item[i++];
    }
  };
  const grantee = name();
  if (item[i] !== '=') throw notGlobals(`bad aclitem ${JSON.stringify(item)}`);
  i++;
  const privileges: Grant['privileges'] = [];
  while (i < item.length && item[i] !== '/') {
    const p = DATABASE_PRIVILEGES[item[i]!];
    if (!p) throw notGlobals(`unknown database privilege '${item[i]}' in ${JSON.stringify(item)}`);
    i++;
    const grantOption = item[i] === '*';
    if (grantOption) i++;
    privileges.push({ name: p, grantOption });
  }
  return { grantee, privileges };
}

/** What applying a database's globals did. */
export interface DatabaseApplied {
  owner: string | null;
  grants: number;
  settings: number;
  /** Roles the grants or owner name that the server does not have: left out. */
  missingRoles: string[];
  skippedSettings: string[];
}

/**
 * Gives `database` (restored from `source`) the owner, grants and settings `source` had: the owner if that role
 * exists, PUBLIC's default rights replaced by the recorded ones (when the source had its own), each grant to a role
 * that exists, the database's settings and the roles' settings in it.
 */
export async function applyPgDatabase(
  conn: ServerConnection,
  g: PgGlobals,
  source: string,
  database: string,
): Promise<DatabaseApplied> {
  const entry = g.databases.find((d) => d.name === source);
  const out: DatabaseApplied = { owner: null, grants: 0, settings: 0, missingRoles: [], skippedSettings: [] };
  if (!entry) return out;
  return withSql(
    conn,
    MAINTENANCE_DB,
    (sql) =>
      sql.begin(async (tx) => {
        const roles = new Set((await tx<{ n: string }[]>`select rolname as n from pg_roles`).map((r) => r.n));
        const db = quoteIdent(database);
        if (roles.has(entry.owner)) {
          await tx.unsafe(`alter database ${db} owner to ${quoteIdent(entry.owner)}`);
          out.owner = entry.owner;
        } else out.missingRoles.push(entry.owner);
        if (entry.acl) {
          await tx.unsafe(`revoke all on database ${db} from public`);
          for (const item of entry.acl) {
            const grant = parseAclItem(item);
            if (grant.grantee !== '' && !roles.has(grant.grantee)) {
              out.missingRoles.push(grant.grantee);
              continue;
            }
            const to = grant.grantee === '' ? 'public' : quoteIdent(grant.grantee);
            for (const p of grant.privileges) {
              await tx.unsafe(`grant ${p.name} on database ${db} to ${to}${p.grantOption ? ' with grant option' : ''}`);
              out.grants++;
            }
          }
        }
        const apply = async (target: string, settings: string[], who: string) => {
          for (const setting of settings) {
            const clause = setClause(setting);
            if (!clause) out.skippedSettings.push(`${who}: ${setting.split('=')[0]}`);
            else {
              await tx.unsafe(`${target} ${clause}`);
              out.settings++;
            }
          }
        };
        await apply(`alter database ${db}`, entry.settings, database);
        for (const s of g.roleSettings) {
          if (s.database !== source || !roles.has(s.role)) continue;
          await apply(`alter role ${quoteIdent(s.role)} in database ${db}`, s.settings, s.role);
        }
        out.missingRoles = [...new Set(out.missingRoles)];
        return out;
      }),
    database,
  );
}
