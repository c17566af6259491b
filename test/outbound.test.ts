// Tenant-chosen URLs (alert webhooks) reach public addresses only: tried against a real server on loopback,
// by literal address, by name, in mapped and decimal forms, and through a redirect.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BackupError } from '../common/errors.ts';
import { isPublicAddress, outboundRequest, OutboundPolicy } from '../common/outbound.ts';

describe('outbound requests to tenant URLs', () => {
  let server: http.Server;
  let port: number;
  const received: string[] = [];

  before(async () => {
    server = http.createServer((req, res) => {
      received.push(req.url ?? '');
      if (req.url === '/redirect') {
        res.writeHead(302, { location: `http://127.0.0.1:${port}/landed` }).end();
      } else res.writeHead(200).end('ok');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  after(() => server.close());

  test('private, loopback, link-local and metadata addresses are not public', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '100.64.0.1',
      '169.254.169.254',
      '0.0.0.0',
      '::1',
      '::',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:a9fe:a9fe',
      'fe80::1',
      'fd00:ec2::254',
      'not-an-ip',
    ])
      assert.equal(isPublicAddress(a), false, a);
    for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])
      assert.equal(isPublicAddress(a), true, a);
  });

  test('loopback is refused by literal address, by name, mapped and decimal, and nothing is sent', async () => {
    const policy = new OutboundPolicy();
    for (const url of [
      `http://127.0.0.1:${port}/a`,
      `http://localhost:${port}/b`,
      `http://[::ffff:127.0.0.1]:${port}/c`,
      `http://2130706433:${port}/d`,
      `http://127.1:${port}/e`,
    ]) {
      await assert.rejects(
        outboundRequest(url, { body: '{}' }, policy),
        (e: unknown) => e instanceof BackupError && e.kind === 'invalid' && /refused/.test(e.message),
        url,
      );
    }
    assert.deepEqual(received, []);
  });

  test('an operator can allow an on-premise receiver; a redirect is answered as a failure, not followed', async () => {
    const policy = new OutboundPolicy(['127.0.0.0/8']);
    const ok = await outboundRequest(`http://127.0.0.1:${port}/allowed`, { body: '{}' }, policy);
    assert.equal(ok.status, 200);
    await assert.rejects(
      outboundRequest(`http://127.0.0.1:${port}/redirect`, { body: '{}' }, policy),
      /redirects are not followed/,
    );
    assert.deepEqual(received, ['/allowed', '/redirect']);
    const byName = await outboundRequest(`http://localhost:${port}/by-name`, {}, new OutboundPolicy(['localhost']));
    assert.equal(byName.status, 200);
  });

  test('other schemes and URLs with credentials are refused', async () => {
    const policy = new OutboundPolicy(['127.0.0.1']);
    await assert.rejects(outboundRequest('file:///etc/passwd', {}, policy), /only http and https/);
    await assert.rejects(outboundRequest(`http://u:p@127.0.0.1:${port}/`, {}, policy), /credentials/);
    assert.throws(() => new OutboundPolicy(['10.0.0.0/99']), /prefix/);
  });
});
