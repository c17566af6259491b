// The sign-in back-off and the weak-password list, on their own (the API test drives them over HTTP).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ACCOUNT_RULE, Throttle } from '../api/guard/throttle.ts';
import { weakPasswordReason } from '../api/guard/passwords.ts';

describe('sign-in back-off', () => {
  test('ten failures are free, the eleventh waits a minute, and each further failure doubles the wait', () => {
    let now = 1_000_000;
    const t = new Throttle(ACCOUNT_RULE, () => now);
    for (let i = 0; i < 9; i++) {
      assert.equal(t.waitMs('a'), 0);
      t.fail('a');
    }
    assert.equal(t.waitMs('a'), 0);
    t.fail('a');
    assert.equal(t.waitMs('a'), 60_000);
    assert.equal(t.waitMs('b'), 0, 'another key is not held back');
    now += 60_000;
    assert.equal(t.waitMs('a'), 0);
    t.fail('a');
    assert.equal(t.waitMs('a'), 120_000);
    now += 10 * 60 * 60_000;
    t.fail('a');
    assert.equal(t.waitMs('a'), 0, 'after a quiet window the count starts again');
  });

  test('a success clears the account, and waits never exceed the cap', () => {
    let now = 0;
    const t = new Throttle({ free: 1, windowMs: 1000, baseBlockMs: 1000, maxBlockMs: 5000 }, () => now);
    for (let i = 0; i < 50; i++) {
      t.fail('x');
      now += t.waitMs('x');
    }
    t.fail('x');
    assert.equal(t.waitMs('x'), 5000);
    t.succeed('x');
    assert.equal(t.waitMs('x'), 0);
  });
});

describe('weak passwords', () => {
  test('the guessers’ first tries are refused with a reason', () => {
    for (const p of [
      'password1234',
      'Password2024!',
      'passwordpassword',
      'aaaaaaaaaaaa',
      '123456789012',
      'abcdefghijkl',
      'qwertyuiop12',
      'Summer2026!!',
      'letmein-letmein',
    ])
      assert.ok(weakPasswordReason(p), p);
    assert.match(weakPasswordReason('xk-jdoe-2026-zz', { email: 'jdoe@example.com' })!, /email/);
    assert.match(weakPasswordReason('Acme-Backups-77', { tenantName: 'ACME backups' })!, /organisation/);
  });

  test('long, unusual passwords pass', () => {
    for (const p of ['correct horse battery staple', 'vT9#qL2!mZ8@', 'blue-kettle-orbit-57']) {
      assert.equal(weakPasswordReason(p, { email: 'ops@example.com', tenantName: 'Acme' }), undefined, p);
    }
  });
});
