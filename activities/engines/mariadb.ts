// MariaDB and MySQL: mariadb-dump (or mysqldump) out, the mariadb (or mysql) client in, catalogue queries through
// the same client. No driver library: the site already needs the client tools, and one way to log in is one way to
// get the login wrong.
import path from 'node:path';
import { BackupError } from '../../common/errors.ts';
import type { TableCount } from '../../common/model.ts';
import { checkDays, DEFAULT_EXACT_BELOW_ROWS, lockTimeoutOf, type DatabaseEngine, type DumpStream } from './engine.ts';
import { producedDump } from './dump-stream.ts';
import {
  baseTables,
  checkDatabaseName,
  classifyMariadbError,
  clientMissing,
  clientRun,
  dumpMissing,
  dumpTool,
  lit,
  mariadbQuery,
  matchTable,
  quoteIdent,
  toolEnv,
  withLogin,
} from './mariadb-sql.ts';
import {
  endMariadbRestoreSessions,
  lockArgs,
  markMariadbDatabase,
  ownMariadbRestore,
  readMariadbMark,
} from './mariadb-restore.ts';
import { markText } from './restore-mark.ts';
import { pipeToolInto, runTool } from './tools.ts';

const SYSTEM_DATABASES = ['mysql', 'information_schema', 'performance_schema', 'sys'];

const dumpOptions = (optionFile: string) => [
  `--defaults-file=${optionFile}`,
  '--single-transaction',
  '--hex-blob',
  '--default-character-set=utf8mb4',
  '--no-tablespaces',
];

export const mariadbEngine: DatabaseEngine = {
  name: 'mariadb',
  format: 'sql',

  async resolveTables(conn, database, tables) {
    const all = await baseTables(conn, database);
    return tables.map((t) => matchTable(all, t, database));
  },

  /**
   * Without --databases, so the dump restores into any database name. Tables whose data stays out are dumped first,
   * schema only (views of the main part may select from them), then everything else with data. The two passes are
   * two snapshots: only DDL between them could differ, and the first holds no rows.
   */
  dump(conn, database, { excludeTableData, filter }): DumpStream {
    const classify = (msg: string) => classifyMariadbError(msg, conn, database);
    return producedDump(async (out, signal) => {
      checkDatabaseName(database);
      const cmd = dumpTool();
      if (!cmd) throw dumpMissing();
      await withLogin(conn, async (file) => {
        const env = toolEnv();
        if (excludeTableData.length > 0) {
          const schemaOnly = [
            ...dumpOptions(file),
            '--no-data',
            '--skip-routines',
            '--skip-events',
            '--triggers',
            '--',
            database,
            ...excludeTableData,
          ];
          await pipeToolInto({ cmd, args: schemaOnly, env }, out, signal, classify, dumpMissing);
        }
        const full = [...dumpOptions(file), '--routines', '--triggers', '--events'];
        for (const t of excludeTableData) full.push(`--ignore-table=${database}.${t}`);
        await pipeToolInto({ cmd, args: [...full, '--', database], env }, out, signal, classify, dumpMissing);
      });
    }, filter);
  },

  async restore(conn, database, input, { into, signal, owner }) {
    checkDatabaseName(database);
    // MariaDB cannot rename a database and its DDL commits as it goes, so replacing one drops it first (the client
    // that restores is the one that drops: a site without it fails before anything is dropped).
    if (into === 'replace') await mariadbEngine.dropDatabase(conn, database);
    const create = into !== 'existing';
    const at = new Date();
    if (create)
      await mariadbQuery(conn, undefined, `CREATE DATABASE ${quoteIdent(database)} CHARACTER SET utf8mb4;`, database);
    // The mark is a help, not a condition: MySQL and MariaDB before 10.5 have no database comments.
    if (owner) await markMariadbDatabase(conn, database, markText(owner, at)).catch(() => {});
    try {
      await withLogin(conn, (file) =>
        runTool(clientRun(file, database, ['--batch', ...(owner ? lockArgs(owner.tag) : [])]), {
          input,
          signal,
          keepStdout: false,
          classify: (msg) => classifyMariadbError(msg, conn, database),
          missing: clientMissing,
        }),
      );
    } catch (err) {
      // DDL commits as it goes: a half-restored database is only removed when this restore made it.
      if (create) await mariadbEngine.dropDatabase(conn, database).catch(() => {});
      throw err;
    }
    // Without this mark a retry after a crash here restores again: it cannot tell the end of the dump was reached.
    if (owner) await markMariadbDatabase(conn, database, markText(owner, at, true)).catch(() => {});
  },

  readRestoreMark: readMariadbMark,
  ownRestore: ownMariadbRestore,
  endRestoreSessions: (conn, tag) => endMariadbRestoreSessions(conn, tag),

  async listDatabases(conn) {
    const rows = await mariadbQuery(
      conn,
      undefined,
      `SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN (${SYSTEM_DATABASES.map(lit).join(', ')}) ORDER BY SCHEMA_NAME;`,
    );
    return rows.map((r) => r[0]!);
  },

  async databaseExists(conn, database) {
    const rows = await mariadbQuery(
      conn,
      undefined,
      `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${lit(database)};`,
      database,
    );
    return rows[0]?.[0] !== '0';
  },

  async hasTables(conn, database) {
    const rows = await mariadbQuery(
      conn,
      database,
      `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${lit(database)};`,
    );
    return rows[0]?.[0] !== '0';
  },

  async dropDatabase(conn, database) {
    checkDatabaseName(database);
    await mariadbQuery(conn, undefined, `DROP DATABASE IF EXISTS ${quoteIdent(database)};`, database);
  },

  async estimateSize(conn, database) {
    const rows = await mariadbQuery(
      conn,
      database,
      `SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${lit(database)};`,
    );
    return Number(rows[0]?.[0] ?? 0);
  },

  async serverVersion(conn) {
    const v = (await mariadbQuery(conn, undefined, 'SELECT VERSION();'))[0]?.[0] ?? '';
    return v.includes('MariaDB') ? `MariaDB ${v}` : `MySQL ${v}`;
  },

  async dumpToolVersion() {
    const cmd = dumpTool();
    if (!cmd) throw dumpMissing();
    const out = await runTool(
      { cmd, args: ['--version'], env: toolEnv() },
      {
        classify: (msg) =>
          new BackupError('invalid', `${path.basename(cmd)} --version failed: ${msg.trim()}`, {
            code: 'DumpToolMissing',
          }),
        missing: dumpMissing,
      },
    );
    return out.trim().replace(/\s+/g, ' ');
  },

  async tableRowCounts(conn, database, opts = {}) {
    const limit = opts.exactBelowRows ?? DEFAULT_EXACT_BELOW_ROWS;
    const stats = await mariadbQuery(
      conn,
      database,
      `SELECT TABLE_NAME, COALESCE(TABLE_ROWS, 0), COALESCE(DATA_LENGTH, 0) FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = ${lit(database)} AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY TABLE_NAME;`,
    );
    const result: TableCount[] = stats.map(([table, estimate, bytes]) => {
      const rows = Number(estimate);
      return { table: table!, rows, exact: rows < limit && Number(bytes) < limit * 1024 };
    });
    const exact = result.map((r, i) => ({ r, i })).filter(({ r }) => r.exact);
    if (exact.length > 0) {
      // InnoDB's TABLE_ROWS is a sample-based guess even for small tables: count those, all in one round trip.
      const counts = await mariadbQuery(
        conn,
        database,
        exact.map(({ r, i }) => `SELECT ${i}, COUNT(*) FROM ${quoteIdent(r.table)}`).join(' UNION ALL ') + ';',
      );
      for (const [i, n] of counts) result[Number(i)]!.rows = Number(n);
    }
    return result;
  },

  /**
   * TRUNCATE commits on its own in MariaDB, so "all or none" comes from checking first (every table exists, no other
   * table references them) and holding write locks on all of them while they are counted and emptied.
   */
  async truncateTables(conn, database, tables) {
    if (tables.length === 0) return 0;
    const all = await baseTables(conn, database);
    const names = [...new Set(tables.map((t) => matchTable(all, t, database)))];
    const refs = await mariadbQuery(
      conn,
      database,
      `SELECT CONSTRAINT_SCHEMA, TABLE_NAME, REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS
      WHERE UNIQUE_CONSTRAINT_SCHEMA = ${lit(database)} AND REFERENCED_TABLE_NAME IN (${names.map(lit).join(', ')});`,
    );
    const outside = refs.filter(([schema, table]) => schema !== database || !names.includes(table!));
    if (outside.length > 0) {
      const list = outside.map(([s, t, r]) => `${s}.${t} → ${r}`).join(', ');
      throw new BackupError(
        'invalid',
        `cannot truncate in '${database}': other tables reference them (${list}). Truncate the referencing tables too, or delete old rows instead`,
        { code: 'ForeignKeyViolation' },
      );
    }
    const quoted = names.map(quoteIdent);
    // References among the listed tables only: all of them end up empty, so the checks can be off for this session.
    const script = [
      'SET SESSION FOREIGN_KEY_CHECKS = 0;',
      // Not waiting long for a table the application uses: its own queries would queue behind ours.
      `SET SESSION lock_wait_timeout = ${lockTimeoutOf(conn)};`,
      `LOCK TABLES ${quoted.map((q) => `${q} WRITE`).join(', ')};`,
      ...quoted.map((q) => `SELECT COUNT(*) FROM ${q};`),
      ...quoted.map((q) => `TRUNCATE TABLE ${q};`),
      'UNLOCK TABLES;',
    ].join('\n');
    const rows = await mariadbQuery(conn, database, script);
    return rows.reduce((sum, r) => sum + Number(r[0]), 0);
  },

  async deleteOlderThan(conn, database, table, column, days) {
    checkDays(days);
    const name = matchTable(await baseTables(conn, database), table, database);
    const cols = await mariadbQuery(
      conn,
      database,
      `SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${lit(database)} AND TABLE_NAME = ${lit(name)};`,
    );
    // Column names are case-insensitive in MariaDB and MySQL.
    const col = cols.find(([c]) => c!.toLowerCase() === column.toLowerCase());
    if (!col)
      throw new BackupError(
        'invalid',
        `column '${column}' does not exist in table '${name}' of database '${database}'`,
        { code: 'ColumnNotFound' },
      );
    if (!['date', 'datetime', 'timestamp'].includes(col[1]!.toLowerCase())) {
      throw new BackupError(
        'invalid',
        `column '${column}' of '${name}' is ${col[1]}, not a date or timestamp: choose the column that holds the row's time`,
        { code: 'ColumnNotTimestamp' },
      );
    }
    const rows = await mariadbQuery(
      conn,
      database,
      [
        `SET SESSION lock_wait_timeout = ${lockTimeoutOf(conn)}, SESSION innodb_lock_wait_timeout = ${lockTimeoutOf(conn)};`,
        'START TRANSACTION;',
        `DELETE FROM ${quoteIdent(name)} WHERE ${quoteIdent(col[0]!)} < NOW() - INTERVAL ${days} DAY;`,
        'SELECT ROW_COUNT();',
        'COMMIT;',
      ].join('\n'),
    );
    return Number(rows[0]?.[0] ?? 0);
  },
};
