// Session tokens: ours checked against Hono's JWT implementation in both directions, and every way a token must be refused.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it, mock } from 'node:test';
import { Hono } from 'hono';
import { sign, verify } from 'hono/jwt';
import { issueToken, requireUser, verifyToken, type AppEnv, type AuthContext } from '../api/auth/tokens.ts';
import { BackupError } from '../common/errors.ts';

const SECRET = 'a-secret-of-the-test-that-is-long-enough-for-hs256';
const who: AuthContext = {
  userId: '11111111-1111-4111-8111-111111111111',
  tenantId: '22222222-2222-4222-8222-222222222222',
  role: 'operator',
};
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const signWith = (secret: string, header: unknown, claims: unknown) => {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
};

describe('session tokens (HS256)', () => {
  it('issues tokens another JWT implementation accepts, with the claims and lifetime asked for', async () => {
    const token = issueToken(who, SECRET, 3600);
    const claims = await verify(token, SECRET, 'HS256');
    assert.deepEqual(
      { sub: claims.sub, tid: claims.tid, role: claims.role },
      { sub: who.userId, tid: who.tenantId, role: who.role },
    );
    assert.equal((claims.exp as number) - (claims.iat as number), 3600);
    assert.ok(Math.abs((claims.iat as number) - Date.now() / 1000) < 5);
    assert.deepEqual(verifyToken(token, SECRET), who);
  });

  it('accepts tokens another implementation signed', async () => {
    const exp = Math.floor(Date.now() / 1000) + 60;
    const token = await sign({ sub: who.userId, tid: who.tenantId, role: 'viewer', exp }, SECRET, 'HS256');
    assert.deepEqual(verifyToken(token, SECRET), { ...who, role: 'viewer' });
  });

  it('refuses a wrong secret, a changed claim, another algorithm, an expired or future token, missing claims, garbage', () => {
    const now = Date.UTC(2026, 10, 25, 12);
    const good = issueToken(who, SECRET, 60, now);
    assert.deepEqual(verifyToken(good, 'another secret', now), { refused: 'bad signature' });
    const [h, , s] = good.split('.');
    const promoted = `${h}.${b64({ sub: who.userId, tid: who.tenantId, role: 'owner', exp: now / 1000 + 60 })}.${s}`;
    assert.deepEqual(verifyToken(promoted, SECRET, now), { refused: 'bad signature' });
    assert.deepEqual(verifyToken(`${h}.${good.split('.')[1]}.`, SECRET, now), { refused: 'bad signature' });
    const claims = { sub: who.userId, tid: who.tenantId, role: who.role, exp: now / 1000 + 60 };
    assert.deepEqual(verifyToken(signWith(SECRET, { alg: 'none' }, claims), SECRET, now), { refused: 'not HS256' });
    assert.deepEqual(verifyToken(good, SECRET, now + 60_000), { refused: 'expired' });
    assert.deepEqual(
      verifyToken(signWith(SECRET, { alg: 'HS256' }, { ...claims, nbf: now / 1000 + 30 }), SECRET, now),
      { refused: 'not yet valid' },
    );
    assert.deepEqual(verifyToken(signWith(SECRET, { alg: 'HS256' }, { ...claims, exp: undefined }), SECRET, now), {
      refused: 'expired',
    });
    assert.deepEqual(verifyToken(signWith(SECRET, { alg: 'HS256' }, { ...claims, role: 'root' }), SECRET, now), {
      refused: 'claims missing',
    });
    assert.deepEqual(verifyToken(signWith(SECRET, { alg: 'HS256' }, { ...claims, tid: 7 }), SECRET, now), {
      refused: 'claims missing',
    });
    const notJson = `${b64({ alg: 'HS256' })}.${Buffer.from('{oops').toString('base64url')}`;
    assert.deepEqual(
      verifyToken(`${notJson}.${createHmac('sha256', SECRET).update(notJson).digest('base64url')}`, SECRET, now),
      { refused: 'malformed' },
    );
    assert.deepEqual(verifyToken('eyJhbGciOiJIUzI1NiJ9.e30', SECRET, now), { refused: 'not a JWT' });
    assert.deepEqual(verifyToken('', SECRET, now), { refused: 'not a JWT' });
  });

  it('the API remembers a checked token only for its lifetime, and never remembers a refused one', async () => {
    const now = Date.UTC(2026, 10, 25, 12);
    mock.timers.enable({ apis: ['Date'], now });
    try {
      const app = new Hono<AppEnv>();
      app.onError((e, c) => c.text(e.message, e instanceof BackupError && e.kind === 'auth' ? 401 : 500));
      // Every user is still a member with the token's role: this test is about the tokens.
      app.use(
        '*',
        requireUser(SECRET, { current: async (tenantId, userId) => ({ tenantId, userId, role: who.role }) }),
      );
      app.get('/me', (c) => c.json(c.get('auth')));
      const ask = async (token: string) =>
        (await app.request('/me', { headers: { authorization: `Bearer ${token}` } })).status;
      const token = issueToken(who, SECRET, 60, now);
      assert.equal(await ask(token), 200);
      assert.equal(await ask(token), 200, 'again, from memory');
      mock.timers.tick(59_000);
      assert.equal(await ask(token), 200);
      mock.timers.tick(1_000);
      assert.equal(await ask(token), 401, 'expired while remembered');
      const forged = `${token.slice(0, -4)}AAAA`;
      assert.equal(await ask(forged), 401);
      assert.equal(await ask(forged), 401, 'a refused token is checked again, not remembered');
      const early = signWith(
        SECRET,
        { alg: 'HS256', typ: 'JWT' },
        { sub: who.userId, tid: who.tenantId, role: who.role, nbf: now / 1000 + 120, exp: now / 1000 + 600 },
      );
      assert.equal(await ask(early), 401, 'not yet valid');
      mock.timers.tick(120_000);
      assert.equal(await ask(early), 200, 'valid from nbf');
    } finally {
      mock.timers.reset();
    }
  });
});
