// What every central activity is given: the metadata database, the deployment's run tuning, the rule for requests to
// tenants' URLs, and
// the run it works for (for the rows it writes and the labels of its logs).
import { Context, type Info } from '@temporalio/activity';
import { withRunLabels, type Logger } from '../../common/logger.ts';
import type { Db } from '../../db/client.ts';
import { OutboundPolicy } from '../../common/outbound.ts';
import type { TemporalHandles } from '../../common/temporal.ts';
import type { RunTuning } from '../contracts.ts';
import type { NotifyDeps } from './notify/deliveries.ts';

export interface CentralDeps {
  db: Db;
  logger: Logger;
  tuning: RunTuning;
  /** Which non-public addresses tenants' URLs may reach (OUTBOUND_ALLOW); by default none. */
  outbound?: OutboundPolicy;
  /** A Temporal client for the activities that ask about runs (closed by the caller); absent, they skip. */
  openTemporal?: () => Promise<TemporalHandles>;
  /** The platform's Ed25519 key that signs erasure reports (ERASURE_SIGNING_KEY_FILE). */
  erasureSigningKeyFile?: string | undefined;
  /** Notification channels: their secrets' key and the senders' settings; absent, alerts reach no channel. */
  notify?: NotifyDeps;
}

export interface CentralContext {
  db: Db;
  tuning: RunTuning;
  outbound: OutboundPolicy;
  openTemporal: (() => Promise<TemporalHandles>) | undefined;
  notify: NotifyDeps | undefined;
  /** The workflow run this activity works for; `activityKey` is the same on every retry of this activity. */
  runInfo(): { workflowId: string; runId: string; activityKey: string; info: Info };
  /** The central logger with this activity's run and attempt on every line, and `labels`. */
  runLogger(labels: {
    tenant_id?: string;
    site_id?: string;
    server?: string;
    database?: string;
    config_id?: string;
  }): Logger;
}

export function createCentralContext(deps: CentralDeps): CentralContext {
  function runInfo() {
    const info = Context.current().info;
    const runId = info.workflowExecution?.runId ?? '';
    return {
      workflowId: info.workflowExecution?.workflowId ?? '',
      runId,
      activityKey: `${runId}/${info.activityId}`,
      info,
    };
  }
  return {
    db: deps.db,
    tuning: deps.tuning,
    outbound: deps.outbound ?? new OutboundPolicy(),
    openTemporal: deps.openTemporal,
    notify: deps.notify,
    runInfo,
    runLogger(labels) {
      const { workflowId, runId, info } = runInfo();
      return withRunLabels(deps.logger, {
        workflow_id: workflowId,
        run_id: runId,
        activity: info.activityType,
        attempt: info.attempt,
        ...labels,
      });
    },
  };
}
