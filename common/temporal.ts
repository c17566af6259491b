// Connecting to Temporal and registering what operators filter on. Shared by the API and both workers.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  Client,
  Connection,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
  type ConnectionOptions,
  type TLSConfig,
} from '@temporalio/client';
import proto from '@temporalio/proto';
import { SearchAttr } from './names.ts';
import { ConfigError, type TemporalEnv } from './config.ts';
import { renewingToken } from './temporal-token.ts';

const { temporal } = proto; // a CommonJS package: named ESM imports do not resolve

export interface TemporalHandles {
  connection: Connection;
  client: Client;
  namespace: string;
}

export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig;
  /** Sent as `authorization: Bearer …` on every call; a function is asked again before each call. */
  apiKey?: string | (() => string);
}

/**
 * How a process of the platform reaches Temporal: TLS when a CA, a client certificate or TEMPORAL_TLS says so, and
 * its credential: a token it signs itself (API, central worker), a cluster's API key, or one it was given (`token`).
 */
export async function temporalConnectionOptions(
  env: TemporalEnv,
  credential: { token?: string | (() => string); sub?: string } = {},
): Promise<TemporalConnectionOptions> {
  const options: TemporalConnectionOptions = { address: env.TEMPORAL_ADDRESS };
  const wantsTls =
    env.TEMPORAL_TLS === 'true' ||
    (env.TEMPORAL_TLS !== 'false' && (env.TEMPORAL_TLS_CA_FILE || env.TEMPORAL_TLS_CERT_FILE));
  if (wantsTls) {
    const tls: TLSConfig = {};
    if (env.TEMPORAL_TLS_CA_FILE)
      tls.serverRootCACertificate = await readSetting(env.TEMPORAL_TLS_CA_FILE, 'TEMPORAL_TLS_CA_FILE');
    // The platform's own server is reached by IP on loopback; its certificate also names localhost.
    tls.serverNameOverride = env.TEMPORAL_TLS_SERVER_NAME ?? (env.TEMPORAL_TLS_CA_FILE ? 'localhost' : undefined);
    if (env.TEMPORAL_TLS_CERT_FILE || env.TEMPORAL_TLS_KEY_FILE) {
      if (!env.TEMPORAL_TLS_CERT_FILE || !env.TEMPORAL_TLS_KEY_FILE)
        throw new ConfigError('TEMPORAL_TLS_CERT_FILE and TEMPORAL_TLS_KEY_FILE go together');
      tls.clientCertPair = {
        crt: await readSetting(env.TEMPORAL_TLS_CERT_FILE, 'TEMPORAL_TLS_CERT_FILE'),
        key: await readSetting(env.TEMPORAL_TLS_KEY_FILE, 'TEMPORAL_TLS_KEY_FILE'),
      };
    }
    options.tls = tls;
  }
  if (credential.token) options.apiKey = credential.token;
  else if (env.TEMPORAL_SIGNING_KEY_FILE) {
    const key = createPrivateKey(await readSetting(env.TEMPORAL_SIGNING_KEY_FILE, 'TEMPORAL_SIGNING_KEY_FILE'));
    options.apiKey = renewingToken(key, {
      role: 'platform',
      ns: env.TEMPORAL_NAMESPACE,
      sub: credential.sub ?? 'platform',
    });
  } else if (env.TEMPORAL_API_KEY_FILE)
    options.apiKey = (await readSetting(env.TEMPORAL_API_KEY_FILE, 'TEMPORAL_API_KEY_FILE')).toString().trim();
  return options;
}

async function readSetting(file: string, name: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new ConfigError(`${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

export async function connectTemporal(env: TemporalEnv, sub = 'api'): Promise<TemporalHandles> {
  const connection = await Connection.connect({
    ...(await temporalConnectionOptions(env, { sub })),
    // grpc-js waits longer and longer (up to 2 min) between attempts to reconnect a channel that lost its server and
    // fails calls meanwhile: after a 30 s outage the API still answered 503 for 4.4 s (13.8 s with the SDK's 20 s of
    // retries per call) once Temporal was back; with a 1 s cap, 0.1 s.
    channelArgs: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 },
    interceptors: [deadlineAndRetries],
  });
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  return { connection, client, namespace: env.TEMPORAL_NAMESPACE };
}

type Interceptor = NonNullable<ConnectionOptions['interceptors']>[number];

const deadlineScope = new AsyncLocalStorage<number>();

/**
 * Runs `fn` with every Temporal call it makes limited to `ms` (gRPC DEADLINE_EXCEEDED after that): an API request must
 * not wait on a Temporal that does not answer. Calls outside such a scope (start-up, tests, tools) keep no deadline.
 */
export function withTemporalCallDeadline<T>(ms: number, fn: () => T): T {
  return deadlineScope.run(ms, fn);
}

/** Waiting for a run's result is a long poll (the server answers after up to 20 s): it keeps no deadline. */
const LONG_POLLS = new Set(['/temporal.api.workflowservice.v1.WorkflowService/GetWorkflowExecutionHistory']);

/**
 * Gives a call the deadline of its scope, then retries it as the SDK does (10 attempts with backoff, about 20 s when
 * Temporal is down), except that no attempt is made that could not start before the deadline: the call fails with
 * Temporal's own reason in time.
 */
const deadlineAndRetries: Interceptor = (options, nextCall) => {
  const ms = deadlineScope.getStore();
  const scoped = ms !== undefined && !options.deadline && !LONG_POLLS.has(options.method_definition.path);
  const call = scoped ? { ...options, deadline: Date.now() + ms } : options;
  const deadline = call.deadline ? new Date(call.deadline).getTime() : Infinity;
  const defaults = defaultGrpcRetryOptions();
  let delay = 0;
  return makeGrpcRetryInterceptor({
    retryableDecider(attempt, status) {
      if (!defaults.retryableDecider(attempt, status)) return false;
      delay = defaults.delayFunction(attempt, status);
      return Date.now() + delay < deadline;
    },
    delayFunction: () => delay,
  })(call, nextCall);
};

const INDEXED_TYPE: Record<string, proto.temporal.api.enums.v1.IndexedValueType> = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  KEYWORD_LIST: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/** Registers the search attributes of backup runs; safe to call on every start. */
export async function ensureSearchAttributes({ connection, namespace }: TemporalHandles): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = Object.values(SearchAttr).filter((k) => !known.has(k.name));
  if (missing.length === 0) return;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((k) => [k.name, INDEXED_TYPE[k.type]!])),
  });
}

/** A site is online when a worker polled its task queue in the last two minutes. */
export async function siteLastSeen(
  { connection, namespace }: TemporalHandles,
  taskQueue: string,
): Promise<Date | undefined> {
  let latest: Date | undefined;
  for (const taskQueueType of [
    temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  ]) {
    const res = await connection.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType,
    });
    for (const poller of res.pollers ?? []) {
      const seconds = Number(poller.lastAccessTime?.seconds ?? 0);
      const at = new Date(seconds * 1000 + Math.floor((poller.lastAccessTime?.nanos ?? 0) / 1e6));
      if (!latest || at > latest) latest = at;
    }
  }
  return latest;
}

export const ONLINE_WINDOW_MS = 2 * 60 * 1000;
