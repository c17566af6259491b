// A PostgreSQL server's globals: what pg_dump leaves out and a whole-server restore needs (roles, their memberships
// and settings, tablespaces, and the owner, grants and settings of each database). Read from the catalogue as data,
// not as SQL: a restore applies them with statements this file writes from validated fields, so nothing in the
// (tenant-controlled) file ever runs as SQL of its own.
import { z } from 'zod';
import { BackupError } from '../../common/errors.ts';
import type { ServerConnection } from '../site-config.ts';
import { MAINTENANCE_DB, withSql } from './postgres-sql.ts';

export const GLOBALS_FORMAT = 'backup-platform/pg-globals';

/** PostgreSQL's limit on a name, in bytes; names never hold a NUL. */
const Name = z
  .string()
  .min(1)
  .refine((s) => Buffer.byteLength(s) <= 63 && !s.includes('\0'), 'a PostgreSQL name');
/** A setting as pg_db_role_setting keeps it: `name=value`, the name a plain (dotted) identifier. */
const Setting = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]{0,62}=[^\0]*$/, 'a setting as name=value');
/** An aclitem as PostgreSQL prints it: `grantee=privileges/grantor`, names quoted where needed. */
const AclItem = z
  .string()
  .max(300)
  .refine((s) => !s.includes('\0'));
/** A role password as the catalogue keeps it: a SCRAM or MD5 verifier, never the password itself. */
const Verifier = z
  .string()
  .regex(/^(SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+|md5[0-9a-f]{32})$/, 'a password hash');

const Role = z
  .object({
    name: Name,
    superuser: z.boolean(),
    inherit: z.boolean(),
    createRole: z.boolean(),
    createDb: z.boolean(),
    login: z.boolean(),
    replication: z.boolean(),
    bypassRls: z.boolean(),
    connectionLimit: z.number().int().min(-1),
    validUntil: z
      .string()
      .regex(/^(infinity|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z)$/)
      .nullable(),
    password: Verifier.nullable().optional(),
  })
  .strict();

export const PgGlobalsSchema = z
  .object({
    format: z.literal(GLOBALS_FORMAT),
    version: z.literal(1),
    serverVersion: z.string().max(200),
    rolePasswords: z.boolean(),
    roles: z.array(Role),
    memberships: z.array(z.object({ role: Name, member: Name, admin: z.boolean() }).strict()),
    roleSettings: z.array(z.object({ role: Name, database: Name.nullable(), settings: z.array(Setting) }).strict()),
    tablespaces: z.array(
      z.object({ name: Name, owner: Name, location: z.string().max(4096), acl: z.array(AclItem).nullable() }).strict(),
    ),
    databases: z.array(
      z.object({ name: Name, owner: Name, acl: z.array(AclItem).nullable(), settings: z.array(Setting) }).strict(),
    ),
  })
  .strict();
export type PgGlobals = z.infer<typeof PgGlobalsSchema>;

/**
 * The server's globals, and the owner, grants and settings of `databases`. Role passwords (their hashes, from
 * pg_authid, which only a superuser reads) only when `rolePasswords` says so.
 */
export async function readPgGlobals(
  conn: ServerConnection,
  databases: string[],
  rolePasswords: boolean,
): Promise<PgGlobals> {
  return withSql(conn, MAINTENANCE_DB, async (sql) => {
    const [v] = await sql<{ v: string }[]>`select current_setting('server_version') as v`;
    const roles = await sql<Omit<PgGlobals['roles'][number], 'password'>[]>`
      select rolname as name, rolsuper as superuser, rolinherit as inherit, rolcreaterole as "createRole",
             rolcreatedb as "createDb", rolcanlogin as login, rolreplication as replication, rolbypassrls as "bypassRls",
             rolconnlimit as "connectionLimit",
             case when rolvaliduntil is null then null when rolvaliduntil = 'infinity' then 'infinity'
                  else to_char(rolvaliduntil at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') end as "validUntil"
      from pg_roles where rolname !~ '^pg_' order by rolname`;
    const passwords = new Map<string, string | null>();
    if (rolePasswords) {
      const rows = await sql<{ name: string; password: string | null }[]>`
        select rolname as name, rolpassword as password from pg_authid where rolname !~ '^pg_'`.catch(
        (e: { code?: string }) => {
          if (e.code !== '42501') throw e;
          throw new BackupError(
            'invalid',
            `role passwords can only be read by a superuser: give the site's login for server ${conn.host} superuser rights, or set globals.rolePasswords to false`,
            { code: 'PermissionDenied' },
          );
        },
      );
      for (const r of rows) passwords.set(r.name, r.password);
    }
    const memberships = await sql<PgGlobals['memberships']>`
      select r.rolname as role, m.rolname as member, a.admin_option as admin
      from pg_auth_members a join pg_roles r on r.oid = a.roleid join pg_roles m on m.oid = a.member
      where m.rolname !~ '^pg_' order by 1, 2`;
    const roleSettings = await sql<PgGlobals['roleSettings']>`
      select r.rolname as role, d.datname as database, s.setconfig as settings
      from pg_db_role_setting s join pg_roles r on r.oid = s.setrole left join pg_database d on d.oid = s.setdatabase
      where r.rolname !~ '^pg_' and (s.setdatabase = 0 or d.datname = any(${databases}::text[])) order by 1, 2`;
    const tablespaces = await sql<PgGlobals['tablespaces']>`
      select spcname as name, pg_get_userbyid(spcowner) as owner, pg_tablespace_location(oid) as location,
             spcacl::text[] as acl
      from pg_tablespace where spcname !~ '^pg_' order by 1`;
    const dbs = await sql<PgGlobals['databases']>`
      select d.datname as name, pg_get_userbyid(d.datdba) as owner, d.datacl::text[] as acl,
             coalesce((select setconfig from pg_db_role_setting s where s.setrole = 0 and s.setdatabase = d.oid), '{}') as settings
      from pg_database d where d.datname = any(${databases}::text[]) order by 1`;
    return PgGlobalsSchema.parse({
      format: GLOBALS_FORMAT,
      version: 1,
      serverVersion: v!.v,
      rolePasswords,
      roles: roles.map((r) => ({ ...r, ...(rolePasswords && { password: passwords.get(r.name) ?? null }) })),
      memberships: [...memberships],
      roleSettings: [...roleSettings],
      tablespaces: [...tablespaces],
      databases: [...dbs],
    });
  });
}

/** Parses a globals file; anything that is not exactly what `readPgGlobals` writes is refused. */
export function parsePgGlobals(text: string): PgGlobals {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw notGlobals('it is not JSON');
  }
  const parsed = PgGlobalsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw notGlobals(`${issue.path.join('.') || 'document'}: ${issue.message}`);
  }
  return parsed.data;
}

export const notGlobals = (why: string) =>
  new BackupError('invalid', `the globals file is not one this platform wrote (${why}): it is not applied`, {
    code: 'BadGlobalsFile',
  });
