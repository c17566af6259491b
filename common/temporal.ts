// Connecting to Temporal and registering what operators filter on. Shared by the API and both workers.
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { SearchAttr } from './names.ts';
import type { TemporalEnv } from './config.ts';

const { temporal } = proto; // a CommonJS package: named ESM imports do not resolve

export interface TemporalHandles {
  connection: Connection;
  client: Client;
  namespace: string;
}

export async function connectTemporal(env: TemporalEnv): Promise<TemporalHandles> {
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  return { connection, client, namespace: env.TEMPORAL_NAMESPACE };
}

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
