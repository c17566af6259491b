// Where off-site copies go: the settings of one destination, checked with zod, and the one way to open it. The
// interface every backend answers to is storage.ts.
// Secrets may be given inline, by environment variable or by file; they are read when the storage is opened,
// so a rotated key is picked up by the next activity without a restart.
import ssh2 from 'ssh2';
import { z } from 'zod';
import { invalid } from '../../common/errors.ts';
import { secret } from '../secrets.ts';
import { openAzure, type AzureCredential } from './azure.ts';
import { openLocal } from './local.ts';
import { openS3 } from './s3.ts';
import { openSftp } from './sftp.ts';
import type { Storage } from './storage.ts';

const MiB = 1024 * 1024;

export const localDestinationSchema = z.object({
  type: z.literal('local'),
  /** A folder on the site machine (a mounted disk or share); relative paths are taken from the working directory. */
  path: z.string().min(1),
});

const AZURE_SECRETS = [
  'connectionString',
  'connectionStringEnv',
  'connectionStringFile',
  'accountKey',
  'accountKeyEnv',
  'accountKeyFile',
  'sasToken',
  'sasTokenEnv',
  'sasTokenFile',
] as const;

export const azureDestinationSchema = z
  .object({
    type: z.literal('azure'),
    container: z
      .string()
      .regex(
        /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/,
        'a container name is 3-63 lower-case letters, digits and single hyphens',
      ),
    /** A folder inside the container for every key. */
    prefix: z
      .string()
      .regex(/^[^/](?:.*[^/])?$/, 'a relative folder, without a leading or trailing /')
      .optional(),
    connectionString: z.string().min(1).optional(),
    connectionStringEnv: z.string().min(1).optional(),
    connectionStringFile: z.string().min(1).optional(),
    /** With an account key or a SAS token: https://<account>.blob.core.windows.net */
    accountUrl: z.string().url().optional(),
    /** Only for an account key with an accountUrl the name cannot be read from. */
    accountName: z.string().min(1).optional(),
    accountKey: z.string().min(1).optional(),
    accountKeyEnv: z.string().min(1).optional(),
    accountKeyFile: z.string().min(1).optional(),
    sasToken: z.string().min(1).optional(),
    sasTokenEnv: z.string().min(1).optional(),
    sasTokenFile: z.string().min(1).optional(),
    blockSize: z
      .number()
      .int()
      .min(1)
      .max(4000 * MiB)
      .optional(),
    concurrency: z.number().int().min(1).max(64).optional(),
    maxTries: z.number().int().min(1).max(10).optional(),
  })
  .superRefine((s, ctx) => {
    const given = AZURE_SECRETS.filter((k) => s[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `give exactly one of ${AZURE_SECRETS.join(', ')}${given.length ? ` (got ${given.join(', ')})` : ''}`,
      });
      return;
    }
    const viaUrl = !given[0]!.startsWith('connectionString');
    if (viaUrl && !s.accountUrl)
      ctx.addIssue({ code: 'custom', path: ['accountUrl'], message: `${given[0]} needs accountUrl` });
    if (!viaUrl && s.accountUrl)
      ctx.addIssue({
        code: 'custom',
        path: ['accountUrl'],
        message: 'a connection string already names the endpoint: drop accountUrl',
      });
  });

export const s3DestinationSchema = z
  .object({
    type: z.literal('s3'),
    /** The service's URL, e.g. https://s3.eu-central-1.amazonaws.com or https://minio.example:9000; AWS when absent. */
    endpoint: z.string().url().optional(),
    region: z.string().min(1).default('us-east-1'),
    bucket: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
        'a bucket name is 3-63 lower-case letters, digits, dots and hyphens',
      ),
    /** A folder inside the bucket for every key. */
    prefix: z
      .string()
      .regex(/^[^/](?:.*[^/])?$/, 'a relative folder, without a leading or trailing /')
      .optional(),
    /** Path-style addressing (https://host/bucket/key): MinIO, Ceph and most others want it. */
    forcePathStyle: z.boolean().optional(),
    accessKeyId: z.string().min(1).optional(),
    accessKeyIdEnv: z.string().min(1).optional(),
    secretAccessKey: z.string().min(1).optional(),
    secretAccessKeyEnv: z.string().min(1).optional(),
    secretAccessKeyFile: z.string().min(1).optional(),
    /** STANDARD, STANDARD_IA, GLACIER_IR, ...: a class that can be read at once (read-back verification needs it). */
    storageClass: z
      .string()
      .regex(/^[A-Z_]+$/, 'an S3 storage class such as STANDARD or STANDARD_IA')
      .refine((c) => c !== 'GLACIER' && c !== 'DEEP_ARCHIVE', 'archive classes cannot be read back: use GLACIER_IR')
      .optional(),
    /** WORM: each object is locked for `days` after its upload; the bucket must have object lock enabled. */
    objectLock: z
      .object({ mode: z.enum(['GOVERNANCE', 'COMPLIANCE']), days: z.number().int().min(1).max(36_500) })
      .strict()
      .optional(),
    /** S3 wants every part but the last to be at least 5 MiB. */
    partSize: z
      .number()
      .int()
      .min(5 * MiB)
      .max(5 * 1024 * MiB)
      .optional(),
    concurrency: z.number().int().min(1).max(64).optional(),
    maxTries: z.number().int().min(1).max(10).optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.accessKeyId === undefined) === (s.accessKeyIdEnv === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['accessKeyId'],
        message: 'give exactly one of accessKeyId, accessKeyIdEnv',
      });
    const secrets = (['secretAccessKey', 'secretAccessKeyEnv', 'secretAccessKeyFile'] as const).filter(
      (k) => s[k] !== undefined,
    );
    if (secrets.length !== 1)
      ctx.addIssue({
        code: 'custom',
        path: ['secretAccessKey'],
        message: 'give exactly one of secretAccessKey, secretAccessKeyEnv, secretAccessKeyFile',
      });
  });

const SSH_KEYS = ['privateKey', 'privateKeyFile', 'privateKeyEnv'] as const;

export const sftpDestinationSchema = z
  .object({
    type: z.literal('sftp'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1),
    privateKey: z.string().min(1).optional(),
    privateKeyFile: z.string().min(1).optional(),
    privateKeyEnv: z.string().min(1).optional(),
    passphrase: z.string().optional(),
    passphraseEnv: z.string().min(1).optional(),
    /** Mandatory: the server's key fingerprint as `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` prints it. */
    hostKey: z
      .string()
      .regex(
        /^SHA256:[A-Za-z0-9+/]{43}=?$/,
        'the host key fingerprint as ssh-keygen -lf prints it: SHA256: and 43 characters',
      ),
    /** The remote folder that holds the copies. */
    path: z.string().regex(/^\//, 'an absolute folder on the server, starting with /'),
  })
  .superRefine((s, ctx) => {
    const keys = SSH_KEYS.filter((k) => s[k] !== undefined);
    if (keys.length !== 1) ctx.addIssue({ code: 'custom', message: `give exactly one of ${SSH_KEYS.join(', ')}` });
    if (s.passphrase !== undefined && s.passphraseEnv !== undefined)
      ctx.addIssue({ code: 'custom', message: 'give at most one of passphrase, passphraseEnv' });
  });

export const destinationSettingsSchema = z.discriminatedUnion('type', [
  localDestinationSchema,
  azureDestinationSchema,
  sftpDestinationSchema,
  s3DestinationSchema,
]);
export type DestinationSettings = z.infer<typeof destinationSettingsSchema>;
export type LocalDestinationSettings = z.infer<typeof localDestinationSchema>;
export type AzureDestinationSettings = z.infer<typeof azureDestinationSchema>;
export type SftpDestinationSettings = z.infer<typeof sftpDestinationSchema>;
export type S3DestinationSettings = z.infer<typeof s3DestinationSchema>;

/** Opens a destination; its secrets are read now. Settings are checked again, as they may come from a file. */
export function openStorage(settings: DestinationSettings): Storage {
  const parsed = destinationSettingsSchema.safeParse(settings);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`);
    throw invalid(`invalid destination settings: ${lines.join('; ')}`);
  }
  const s = parsed.data;
  switch (s.type) {
    case 'local':
      return openLocal({ path: s.path });
    case 'azure':
      return openAzure({
        container: s.container,
        ...(s.prefix !== undefined && { prefix: s.prefix }),
        credential: azureCredential(s),
        ...(s.blockSize !== undefined && { blockSize: s.blockSize }),
        ...(s.concurrency !== undefined && { concurrency: s.concurrency }),
        ...(s.maxTries !== undefined && { maxTries: s.maxTries }),
      });
    case 's3':
      return openS3({
        ...(s.endpoint !== undefined && { endpoint: s.endpoint }),
        region: s.region,
        bucket: s.bucket,
        ...(s.prefix !== undefined && { prefix: s.prefix }),
        ...(s.forcePathStyle !== undefined && { forcePathStyle: s.forcePathStyle }),
        credential: {
          accessKeyId: secret('accessKeyId', s.accessKeyId, s.accessKeyIdEnv, undefined)!,
          secretAccessKey: secret('secretAccessKey', s.secretAccessKey, s.secretAccessKeyEnv, s.secretAccessKeyFile)!,
        },
        ...(s.storageClass !== undefined && { storageClass: s.storageClass }),
        ...(s.objectLock !== undefined && { objectLock: s.objectLock }),
        ...(s.partSize !== undefined && { partSize: s.partSize }),
        ...(s.concurrency !== undefined && { concurrency: s.concurrency }),
        ...(s.maxTries !== undefined && { maxTries: s.maxTries }),
      });
    case 'sftp': {
      const privateKey = secret('privateKey', s.privateKey, s.privateKeyEnv, s.privateKeyFile, false)!;
      const passphrase = secret('passphrase', s.passphrase, s.passphraseEnv, undefined);
      const parsedKey = ssh2.utils.parseKey(privateKey, passphrase);
      if (parsedKey instanceof Error)
        throw invalid(`the SFTP private key cannot be used: ${parsedKey.message}`, 'privateKey');
      return openSftp({
        host: s.host,
        port: s.port ?? 22,
        user: s.user,
        privateKey,
        ...(passphrase !== undefined && { passphrase }),
        hostKey: s.hostKey.replace(/=$/, ''),
        path: s.path,
      });
    }
  }
}

function azureCredential(s: AzureDestinationSettings): AzureCredential {
  const connectionString = secret(
    'connectionString',
    s.connectionString,
    s.connectionStringEnv,
    s.connectionStringFile,
  );
  if (connectionString !== undefined) return { connectionString };
  const accountUrl = s.accountUrl!;
  const accountKey = secret('accountKey', s.accountKey, s.accountKeyEnv, s.accountKeyFile);
  if (accountKey !== undefined)
    return { accountUrl, accountKey, ...(s.accountName !== undefined && { accountName: s.accountName }) };
  return { accountUrl, sasToken: secret('sasToken', s.sasToken, s.sasTokenEnv, s.sasTokenFile)! };
}
