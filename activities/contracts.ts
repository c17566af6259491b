// What crosses between the central worker and a site worker, carried by a workflow: plans the central activities
// hand to the site, and the references and reports the site hands back to be recorded. Shapes only: workflows
// import them as types, and none of them holds a credential or a byte of a backup.
import type {
  CleanTable,
  Compression,
  CopyState,
  DestinationKind,
  DrillSpec,
  Engine,
  GlobalsSpec,
  RestoreKind,
  RetentionPolicy,
  TableCount,
} from '../common/model.ts';

/** Timeouts and retry pacing the workflow applies; set by the central worker's environment. */
export interface RunTuning {
  dumpHeartbeatTimeoutMs: number;
  dumpTimeoutMs: number;
  sitePickupTimeoutMs: number;
  retryInitialMs: number;
  /** How long recording a run's outcome is retried through a metadata database outage (absent in older runs). */
  bookkeepingTimeoutMs?: number;
}

/** What one run needs to know, read once at its start so a configuration edited mid-run does not change it. */
export interface BackupPlan {
  tenantId: string;
  configId: string;
  configName: string;
  siteId: string;
  siteName: string;
  taskQueue: string;
  serverId: string;
  serverName: string;
  engine: Engine;
  /** Names, or `["*"]`: the run discovers the server's databases at the site (less `excludeDatabases`). */
  databases: string[];
  excludeDatabases: string[];
  cleanTables: CleanTable[];
  keepLocal: number;
  timezone: string;
  /** The dump format's file extension (`pgdump`, `sql`, `sqlite`). */
  format: string;
  compression: Compression;
  encrypt: boolean;
  /** PostgreSQL: the run also dumps the server's globals (absent in plans made before they existed, and when off). */
  globals?: GlobalsSpec | null;
  /** Off-site targets, each with its own retention; the site's own copy keeps `keepLocal`. */
  destinations: PlanDestination[];
  tuning: RunTuning;
}

export interface PlanDestination {
  id: string;
  name: string;
  kind: DestinationKind;
  retention: RetentionPolicy;
}

/** One copy to write, check or delete, as the site sees it: a target (`site` or a destination name) and a key. */
export interface CopyRef {
  target: string;
  key: string;
}

export interface CopyToCheck extends CopyRef {
  copyId: string;
  fileName: string;
  backupId: string;
  sizeBytes: number;
  sha256: string;
  state: CopyState;
}

export interface SiteCheckBatch {
  siteId: string;
  siteName: string;
  taskQueue: string;
  tenantId: string;
  copies: CopyToCheck[];
}

export interface CheckResult {
  copyId: string;
  state: 'stored' | 'missing' | 'corrupt';
  detail?: string;
}

export interface CheckCopiesResult {
  results: CheckResult[];
  /** Targets the site could not reach: their copies were not checked, and are not called missing. */
  unreachable: { target: string; error: string }[];
}

export interface Repair {
  copyId: string;
  backupId: string;
  tenantId: string;
  to: CopyRef;
  /** A good copy of the same backup to copy from; none left means only an alert can help. */
  from: CopyRef | null;
  sizeBytes: number;
  sha256: string;
  what: string;
}

export interface RestorePlan {
  restoreId: string;
  tenantId: string;
  kind: RestoreKind;
  backupId: string;
  fileName: string;
  sizeBytes: number;
  sha256: string;
  tableCounts: TableCount[];
  siteName: string;
  taskQueue: string;
  serverName: string;
  database: string;
  overwrite: boolean;
  /** Stored copies the target site can reach, best first. */
  candidates: (CopyRef & { copyId: string })[];
  /**
   * The globals of the backup's run, applied around the restore (roles before, the database's owner and grants
   * after), which then keeps the dump's owners and privileges. Absent: restored without them (--no-owner).
   */
  globals?: {
    backupId: string;
    fileName: string;
    sizeBytes: number;
    sha256: string;
    /** The database as it was named at backup time: its entry in the globals file. */
    sourceDatabase: string;
    candidates: (CopyRef & { copyId: string })[];
  };
  tuning: RunTuning;
  /**
   * Scratch databases made before this (ISO time) belong to no running restore or drill: the site may sweep them.
   * Absent in plans made before the sweep existed.
   */
  sweepMadeBefore?: string;
}

export interface DrillTarget {
  database: string;
  /** Absent when the database has no successful backup with a stored copy to drill. */
  plan?: RestorePlan;
  drill: DrillSpec;
  configName: string;
}

/** What the destructive modes of cleaning removed at the source. */
export interface RowsRemoved {
  table: string;
  mode: string;
  rows: number;
}

export interface CleanTablesResult {
  /** Tables whose rows stay out of the dump, in the dump tool's literal form. */
  excludeTableData: string[];
  rowsRemoved: RowsRemoved[];
}

export interface DumpResult {
  fileName: string;
  /** Relative to the site's Backups folder. */
  path: string;
  sizeBytes: number;
  sha256: string;
  /** Bytes the dump tool wrote before compression; 0 when an earlier attempt had already finished the file. */
  rawBytes: number;
  compression: string;
  encrypted: boolean;
  /** Which tenant key wrapped the data key: a fingerprint, never the key. */
  keyId: string | null;
  tableCounts: TableCount[];
}

export interface UploadResult {
  location: string;
  /** Bytes this attempt sent; less than the size when an earlier attempt had stored part of it. */
  bytesSent: number;
  resumedFrom: number;
}

export interface RestoreResult {
  /** Bytes of the dump after decryption and decompression. */
  rawBytes: number;
  seconds: number;
  replaced: boolean;
  /** An earlier attempt's restore tool finished the work after its worker died: this attempt only recognised it. */
  recovered?: boolean;
}

export interface DryRunCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface DryRunReport {
  ok: boolean;
  checks: DryRunCheck[];
  estimatedBytes: number;
  estimatedSeconds: number;
  freeBytes: number;
}
