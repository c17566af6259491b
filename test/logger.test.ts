// Every log line is ECS JSON, ready for Elasticsearch, and secrets never reach it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, withRunLabels } from '../common/logger.ts';
import { LogCapture } from './helpers/stack.ts';

describe('logger', () => {
  it('writes ECS fields and the run labels', () => {
    const out = new LogCapture();
    const log = withRunLabels(createLogger('backup-site-worker', out), {
      workflow_id: 'wf',
      run_id: 'run',
      tenant_id: 't1',
      site_id: 's1',
      server: 'pg',
    });
    log.info({ file: { size: 10 } }, 'dump finished');
    log.error({ err: new Error('boom') }, 'failed');
    const [info, error] = out.lines as any[];
    assert.equal(info['ecs.version'], '8.10.0');
    assert.equal(info['log.level'], 'info');
    assert.equal(info.message, 'dump finished');
    assert.match(info['@timestamp'], /^\d{4}-\d{2}-\d{2}T/);
    assert.equal(info['service.name'], 'backup-site-worker');
    assert.deepEqual(info.labels, { workflow_id: 'wf', run_id: 'run', tenant_id: 't1', site_id: 's1', server: 'pg' });
    assert.equal(info.file.size, 10);
    assert.equal(error.error.message, 'boom');
    assert.equal(error.error.type, 'Error');
    assert.ok(error.error.stack_trace);
  });

  it('redacts secrets at the top and up to three levels down', () => {
    const out = new LogCapture();
    const log = createLogger('api', out);
    log.info(
      {
        password: 'p1',
        server: { password: 'p2' },
        a: { b: { token: 'p3' } },
        siteKey: 'p4',
        authorization: 'Bearer p5',
        destination: { sftp: { auth: { passphrase: 'p6', privateKey: 'p7' } } },
        azure: { sasToken: 'p8', accountKey: 'p9' },
        env: { PGPASSWORD: 'p10' },
        a1: { b: { c: { token: 'p11' } } },
      },
      'x',
    );
    const raw = out.raw.join('\n');
    for (const s of ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9', 'p10', 'p11'])
      assert.ok(!raw.includes(`"${s}"`) && !raw.includes(`Bearer ${s}`), `${s} leaked: ${raw}`);
    assert.match(raw, /\[redacted\]/);
    // Not an ECS field set: moved under the platform's namespace, and redacted there as well.
    assert.equal((out.lines[0] as any).backup.password, '[redacted]');
  });

  it("writes one labels object a line, merging the parents', the child's and the call's", () => {
    const out = new LogCapture();
    const site = withRunLabels(createLogger('backup-site-worker', out), { tenant_id: 't1', site_id: 's1' });
    withRunLabels(site, { workflow_id: 'wf', attempt: 2 }).info({ labels: { target: 'nas' }, raw_bytes: 5 }, 'x');
    assert.equal(out.raw[0]!.match(/"labels":/g)!.length, 1, out.raw[0]);
    const [line] = out.lines as any[];
    assert.deepEqual(line.labels, { tenant_id: 't1', site_id: 's1', workflow_id: 'wf', attempt: '2', target: 'nas' });
    assert.deepEqual(line.backup, { raw_bytes: 5 });
    assert.throws(() => site.child({ labels: { x: 'y' } }), /withRunLabels/);
  });
});
