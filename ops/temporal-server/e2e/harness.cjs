// Helpers for the bp-temporal end-to-end proof: start the real binary, mint tokens the way the API will
// (Ed25519 JWT signed with node:crypto), connect over TLS, record pass/fail, read the server's decision log.
'use strict';
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { Connection } = require('@temporalio/client');

const PERMISSION_DENIED = 7; // gRPC status code

async function freePort() {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/** Starts bp-temporal and resolves once it prints its ready line; keeps its decision log. */
async function startServer(bin, dir, { privateKey, publicKey }) {
  const keyFile = path.join(dir, 'jwt-public.pem');
  fs.writeFileSync(keyFile, publicKey.export({ type: 'spki', format: 'pem' }));
  const port = await freePort();
  const uiPort = await freePort();
  const args = [
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
    '--tls-dir',
    path.join(dir, 'tls'),
    '--jwt-public-key',
    keyFile,
    '--log-level',
    'warn',
    '--auth-log-level',
    'debug',
  ];
  const started = performance.now();
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const decisions = [];
  const other = [];
  let buf = '';
  let onReady;
  const ready = new Promise((resolve, reject) => {
    onReady = resolve;
    child.once('exit', (code) => reject(new Error(`bp-temporal exited (${code}) before ready:\n${other.join('\n')}`)));
  });
  child.stderr.on('data', (d) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith('bp-temporal ready ')) onReady(line.slice('bp-temporal ready '.length));
      else if (line.includes('"bp-auth ')) decisions.push(JSON.parse(line));
      else other.push(line);
    }
  });
  const address = await ready;
  const readyMs = performance.now() - started;
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const stop = async () => {
    const t0 = performance.now();
    child.kill('SIGTERM');
    const res = await exited;
    return { ...res, ms: performance.now() - t0 };
  };
  return { address, uiPort, readyMs, decisions, other, stop, ca: fs.readFileSync(path.join(dir, 'tls', 'ca.pem')) };
}

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A compact JWS signed with Ed25519, exactly what the API will send: header alg EdDSA. */
function signToken(privateKey, claims, header = { alg: 'EdDSA', typ: 'JWT' }) {
  const input = `${b64url(header)}.${b64url(claims)}`;
  return `${input}.${crypto.sign(null, Buffer.from(input), privateKey).toString('base64url')}`;
}

function claims(role, extra = {}) {
  const now = Math.floor(Date.now() / 1000);
  return {
    sub: role === 'site' ? `site:${extra.tq}` : 'api',
    aud: 'temporal',
    role,
    ns: 'default',
    iat: now,
    exp: now + 600,
    ...extra,
  };
}

const bearer = (token) => ({ authorization: `Bearer ${token}` });

function connect(server, token, opts = {}) {
  return Connection.connect({
    address: server.address,
    tls: { serverRootCACertificate: server.ca },
    metadata: token ? bearer(token) : {},
    connectTimeout: '5s',
    ...opts,
  });
}

/** Pass/fail bookkeeping; the closing line is the plain "N passed, N failed" CI reads. */
class Checks {
  constructor() {
    this.passed = 0;
    this.failed = 0;
  }
  ok(name, cond, detail = '') {
    if (cond) this.passed++;
    else this.failed++;
    console.log(`${cond ? 'PASS' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
  }
  async allowed(name, fn) {
    try {
      const v = await fn();
      this.ok(name, true);
      return v;
    } catch (err) {
      this.ok(name, false, `${err.code ?? ''} ${err.details ?? err.message}`);
      return undefined;
    }
  }
  /** The call must fail with gRPC PermissionDenied (checked on the error or its cause). */
  async denied(name, fn) {
    try {
      await fn();
      this.ok(name, false, 'was allowed');
    } catch (err) {
      const code = err.code ?? err.cause?.code;
      const why = err.details ?? err.cause?.details ?? err.message;
      this.ok(name, code === PERMISSION_DENIED, `code ${code}: ${why}`);
    }
  }
  summary() {
    console.log(`${this.passed} passed, ${this.failed} failed`);
    return this.failed === 0;
  }
}

/** The calls one subject made, in order of first use, with counts and decisions. */
function callsBy(decisions, sub) {
  const seen = new Map();
  for (const d of decisions) {
    if (d.sub !== sub) continue;
    const key = `${d.api.split('/').pop()} ${d.msg === 'bp-auth allowed' ? 'allowed' : `DENIED (${d.reason})`}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return [...seen].map(([k, n]) => `${k} ×${n}`);
}

module.exports = { startServer, signToken, claims, bearer, connect, Checks, callsBy, PERMISSION_DENIED };
