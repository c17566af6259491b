// Verification: every copy of a configuration's (or one backup's) backups read back end to end at its site: hash,
// decryption and decompression to the last byte. A corrupt copy is marked with the time and raises an alert.
import { patched } from '@temporalio/workflow';
import { central, describeFailure, siteActivities } from './activities.ts';

export interface VerifyWorkflowInput {
  tenantId: string;
  configId?: string;
  backupId?: string;
}

export interface VerifyWorkflowResult {
  verified: number;
  corrupt: string[];
  missing: string[];
  unreachable: string[];
}

export async function verifyWorkflow(input: VerifyWorkflowInput): Promise<VerifyWorkflowResult> {
  const result: VerifyWorkflowResult = { verified: 0, corrupt: [], missing: [], unreachable: [] };
  const { tuning } = await central.runTuning();
  for (const batch of await central.listCopiesToCheck({
    tenantId: input.tenantId,
    configId: input.configId,
    backupId: input.backupId,
  })) {
    const site = siteActivities(batch.taskQueue, tuning);
    let checked;
    try {
      checked = await site.long.verifyCopies({ copies: batch.copies });
    } catch (err) {
      result.unreachable.push(`${batch.siteName}: ${describeFailure(err, batch.siteName)}`);
      continue;
    }
    for (const u of checked.unreachable) result.unreachable.push(`${batch.siteName}/${u.target}: ${u.error}`);
    await central.recordCheckResults({ results: checked.results, verification: true });
    const byId = new Map(batch.copies.map((c) => [c.copyId, c]));
    for (const r of checked.results) {
      const c = byId.get(r.copyId)!;
      if (r.state === 'stored') result.verified++;
      else
        (r.state === 'corrupt' ? result.corrupt : result.missing).push(
          `${c.fileName} at ${c.target}: ${r.detail ?? r.state}`,
        );
    }
    const bad = checked.results.filter((r) => r.state !== 'stored');
    if (bad.length > 0) {
      await central
        .alert({
          tenantId: batch.tenantId,
          configId: input.configId,
          siteName: batch.siteName,
          event: 'copy.corrupt',
          message: `verification found ${bad.length} bad ${bad.length === 1 ? 'copy' : 'copies'}: ${bad.map((r) => `${byId.get(r.copyId)!.fileName} at ${byId.get(r.copyId)!.target} (${r.detail ?? r.state})`).join('; ')}`,
        })
        .catch(() => undefined);
    }
  }
  return result;
}

/** The missed-backup watch: a configuration whose schedule stopped producing backups is as bad as a failed one. */
export async function watchdogWorkflow(input: { now?: string } = {}): Promise<{ missed: string[]; stuck: string[] }> {
  const missed = await central.findMissedBackups({ now: input.now });
  for (const m of missed) {
    const since = m.lastSuccessAt ? `since ${m.lastSuccessAt}` : 'ever';
    const sent = await central
      .alert({
        tenantId: m.tenantId,
        configId: m.configId,
        configName: m.configName,
        siteName: m.siteName,
        serverName: m.serverName,
        event: 'backup.missed',
        message: `no successful backup of '${m.configName}' ${since}; it should run every ${m.expectedEveryHours} h`,
      })
      .then(
        () => true,
        () => false,
      );
    // Marked once the alert is out: one that could not be sent is tried again by the next watch. (Runs that began
    // before this step existed replay without it.)
    if (sent && patched('watchdog-marks-after-alert'))
      await central.markMissedAlerted({ configId: m.configId, now: input.now });
  }
  // Rows of runs that ended without writing their outcome (terminated, or their bookkeeping gave up) are settled
  // as failed and alerted, so the history never shows a run as running when nothing runs it.
  const stuck = patched('settle-stuck-runs') ? await central.settleStuckRuns({ now: input.now }) : [];
  for (const s of stuck)
    await central
      .alert({
        tenantId: s.tenantId,
        configId: s.configId,
        configName: s.configName,
        siteName: s.siteName,
        serverName: s.serverName,
        database: s.database,
        event: s.kind === 'backup' ? 'backup.failed' : 'restore.failed',
        message: s.error,
      })
      .catch(() => undefined);
  return { missed: missed.map((m) => m.configName), stuck: stuck.map((s) => `${s.kind} ${s.database}: ${s.error}`) };
}
