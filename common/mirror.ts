// Object mirrors: an application's file versions, listed in its own database, copied to the site's disk as
// `<bucket>/<path without extension>/v<Version>.gzip`. The shapes the API, the central worker, the workflow and the site
// share, and the one function that turns a row's (hostile) Storage and Path into a key under the mirror's root. Pure:
// workflows import it.
import type { RunTuning } from '../activities/contracts.ts';

/** Where the application lists its files and deletions; every name is an identifier, quoted where it is used. */
export interface MirrorLayout {
  filesTable: string;
  idColumn: string;
  nameColumn: string;
  pathColumn: string;
  storageColumn: string;
  versionColumn: string;
  hashColumn: string;
  urlColumn: string;
  deleteLogTable: string;
  deleteFileIdColumn: string;
  deletedAtColumn: string;
}

/** The application's layout (issue 19); each name can be changed per mirror. */
export const DEFAULT_MIRROR_LAYOUT: MirrorLayout = {
  filesTable: 'ObjectStorageFiles',
  idColumn: 'Id',
  nameColumn: 'Name',
  pathColumn: 'Path',
  storageColumn: 'Storage',
  versionColumn: 'Version',
  hashColumn: 'Hash',
  urlColumn: 'SignedDownloadUrl',
  deleteLogTable: 'ObjectStorageDeleteLog',
  deleteFileIdColumn: 'FileId',
  deletedAtColumn: 'DeletedAt',
};

/** A plain identifier (`schema.table` for tables): no quotes, no spaces, nothing that could end a quoted name. */
export const MIRROR_IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
export const MIRROR_TABLE_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/;

export const MIRROR_VERSION_STATES = ['stored', 'failed', 'superseded', 'pruned', 'deleted'] as const;
export type MirrorVersionState = (typeof MIRROR_VERSION_STATES)[number];

/** Why a version could not be mirrored; `hash`: its bytes are not the ones the application recorded. */
export const MIRROR_FAILURES = ['hash', 'expired', 'not_found', 'refused', 'bad_path', 'http', 'network'] as const;
export type MirrorFailure = (typeof MIRROR_FAILURES)[number];

/** What one run of a mirror works from; read once at its start. No secret: the source is a server's name. */
export interface MirrorPlan {
  tenantId: string;
  mirrorId: string;
  mirrorName: string;
  siteId: string;
  siteName: string;
  taskQueue: string;
  serverName: string;
  database: string;
  layout: MirrorLayout;
  /** `null`: every version is kept; 1: only the latest. */
  keepVersions: number | null;
  deleteGraceDays: number;
  concurrency: number;
  maxBytesPerSecond: number | null;
  /** Rows with an Id after this one are new (null: none mirrored yet). */
  cursor: string | null;
  /** Deletions logged at or after this instant may still be due. */
  deleteCursor: string | null;
  tuning: RunTuning;
}

/** One version as the site left it. */
export interface MirrorVersionResult {
  fileId: string;
  bucket: string;
  path: string;
  version: number;
  state: MirrorVersionState;
  /** Where it is, relative to the mirror root (`car-erp/cars/id-1/thumbnail/v1.gzip`); absent when the path was refused. */
  key?: string;
  /** The object's own size and the stored (gzip) size. */
  sourceBytes?: number;
  storedBytes?: number;
  sha256?: string;
  failure?: MirrorFailure;
  error?: string;
  /** Already stored by an earlier attempt: nothing was fetched. */
  reused?: boolean;
}

export interface MirrorRemoved {
  bucket: string;
  path: string;
  version: number;
}

export interface MirrorBatchResult {
  versions: MirrorVersionResult[];
  /** Older versions removed because `keepVersions` keeps only newer ones. */
  pruned: MirrorRemoved[];
  cursor: string | null;
  more: boolean;
  fetchedBytes: number;
}

const PATH_PROBLEM = (why: string) => `refused: ${why}`;

/**
 * The key of one version under the mirror root: `<bucket>/<path without its extension>/v<version>.gzip`. The bucket
 * and path are the application's text and so hostile: a NUL, a backslash, `.` or `..` segments, or a bucket that is
 * not a single name are refused (answers the reason), so a key never climbs out of the root.
 */
export function mirrorKey(bucket: string, objectPath: string, version: number): { key: string } | { problem: string } {
  if (!Number.isSafeInteger(version) || version < 0) return { problem: PATH_PROBLEM(`version '${version}'`) };
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(bucket) || bucket === '..')
    return { problem: PATH_PROBLEM('the storage (bucket) is not a plain name') };
  if (objectPath.includes('\0') || objectPath.includes('\\'))
    return { problem: PATH_PROBLEM('NUL or backslash in the path') };
  const segments = objectPath.split('/').filter((s) => s !== '');
  if (segments.length === 0) return { problem: PATH_PROBLEM('empty path') };
  if (segments.some((s) => s === '.' || s === '..' || s.length > 255))
    return { problem: PATH_PROBLEM("'.' or '..' in the path") };
  const last = segments[segments.length - 1]!;
  const dot = last.lastIndexOf('.');
  const stem = dot > 0 ? last.slice(0, dot) : last;
  segments[segments.length - 1] = stem;
  if (segments.some((s) => s.startsWith('.'))) return { problem: PATH_PROBLEM('a hidden (dot) name in the path') };
  return { key: [bucket, ...segments, `v${version}.gzip`].join('/') };
}

/** The folder of a file's versions: the key without its `v<N>.gzip`. */
export const mirrorFolder = (key: string): string => key.slice(0, key.lastIndexOf('/'));

/** A SHA-256 as the application wrote it (hex, any case, or base64) as lower-case hex; undefined when it is neither. */
export function normalizeSha256(hash: string): string | undefined {
  const t = hash.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return t.toLowerCase();
  if (/^[A-Za-z0-9+/]{43}=$/.test(t)) {
    // Decoded without Buffer (workflows import this file).
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    let bits = '';
    for (const c of t.slice(0, 43)) bits += alphabet.indexOf(c).toString(2).padStart(6, '0');
    let hex = '';
    for (let i = 0; i + 8 <= 256; i += 8)
      hex += parseInt(bits.slice(i, i + 8), 2)
        .toString(16)
        .padStart(2, '0');
    return hex;
  }
  return undefined;
}
