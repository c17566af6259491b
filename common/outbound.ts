// Requests to addresses a tenant chose (alert webhooks, notification channels). A tenant must not be able to make
// the platform reach what only the platform can reach: loopback, the private network, link-local cloud metadata.
// The address is checked where the connection is made (the resolver's answer, not an earlier look-up a DNS rebind
// could change), literal IPs are checked before, and redirects are never followed.
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { BackupError, invalid } from './errors.ts';

const blocked = new net.BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(prefix, bits, 'ipv4');
for (const [prefix, bits] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  blocked.addSubnet(prefix, bits, 'ipv6');

/** Addresses a tenant's URL may not reach unless an operator allowed them (`OUTBOUND_ALLOW`). */
export function isPublicAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 0) return false;
  if (family === 6) {
    // IPv4-mapped and -compatible forms (::ffff:127.0.0.1) are judged as the IPv4 address they carry.
    const mapped = /^::(?:ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return isPublicAddress(mapped[1]!);
    const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
    if (hex) {
      const n = (parseInt(hex[1]!, 16) << 16) | parseInt(hex[2]!, 16);
      return isPublicAddress([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'));
    }
    return !blocked.check(address, 'ipv6');
  }
  return !blocked.check(address, 'ipv4');
}

/** An operator's exceptions for receivers on their own network: hostnames, IPs or CIDR ranges. */
export class OutboundPolicy {
  private readonly hosts = new Set<string>();
  private readonly ranges = new net.BlockList();

  constructor(allow: readonly string[] = []) {
    for (const raw of allow.map((s) => s.trim().toLowerCase()).filter(Boolean)) {
      const [ip, bits] = raw.split('/');
      const family = net.isIP(ip ?? '');
      if (family === 0) {
        if (bits !== undefined) throw invalid(`OUTBOUND_ALLOW: ${raw} is not an address range`);
        this.hosts.add(raw);
      } else if (bits === undefined) this.ranges.addAddress(ip!, family === 4 ? 'ipv4' : 'ipv6');
      else {
        const n = Number(bits);
        if (!Number.isInteger(n) || n < 0 || n > (family === 4 ? 32 : 128))
          throw invalid(`OUTBOUND_ALLOW: ${raw} has a bad prefix length`);
        this.ranges.addSubnet(ip!, n, family === 4 ? 'ipv4' : 'ipv6');
      }
    }
  }

  static fromEnv(value: string | undefined): OutboundPolicy {
    return new OutboundPolicy((value ?? '').split(','));
  }

  allowsHost(host: string): boolean {
    return this.hosts.has(host.toLowerCase());
  }

  allowsAddress(address: string): boolean {
    const family = net.isIP(address);
    if (family === 0) return false;
    return isPublicAddress(address) || this.ranges.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}

export interface OutboundRequest {
  method?: 'POST' | 'GET';
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

export interface OutboundResponse {
  status: number;
  /** At most 64 KiB of the answer, for error messages and channels that answer JSON. */
  text: string;
}

/** Why a URL was refused: a configuration error the tenant fixes, so never retried. */
export const refused = (url: URL, why: string) =>
  new BackupError('invalid', `refused: ${why} (an operator can allow an on-premise receiver with OUTBOUND_ALLOW)`, {
    code: 'OutboundRefused',
  });

/** Sends one request to a tenant's URL under the policy. Redirects are answered as failures, never followed. */
export async function outboundRequest(
  target: string,
  req: OutboundRequest,
  policy: OutboundPolicy,
): Promise<OutboundResponse> {
  const { url, lookup } = outboundTarget(target, policy);
  return send(url, req, lookup);
}

/**
 * A tenant's URL checked against the policy, with the resolver to connect through: it refuses a host that resolves
 * to an address the policy does not allow, at connection time. For callers that stream the answer themselves.
 */
export function outboundTarget(target: string, policy: OutboundPolicy): { url: URL; lookup: net.LookupFunction } {
  const url = new URL(target);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refused(url, 'only http and https are sent to');
  if (url.username || url.password) throw refused(url, 'credentials in the URL are not sent');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const hostAllowed = policy.allowsHost(host);
  if (net.isIP(host) && !hostAllowed && !policy.allowsAddress(host)) throw refused(url, 'not a public address');
  const lookup: net.LookupFunction = (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const ok = addresses.filter((a) => hostAllowed || policy.allowsAddress(a.address));
      if (ok.length === 0) return callback(refused(url, 'it resolves to an address that is not public'), '', 0);
      if (options.all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, ok);
      callback(null, ok[0]!.address, ok[0]!.family);
    });
  };
  return { url, lookup };
}

function send(url: URL, req: OutboundRequest, lookup: net.LookupFunction): Promise<OutboundResponse> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      url,
      {
        method: req.method ?? 'POST',
        headers: { ...req.headers, ...(req.body ? { 'content-length': String(Buffer.byteLength(req.body)) } : {}) },
        lookup,
        timeout: req.timeoutMs ?? 10_000,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < 65_536) chunks.push(c);
          size += c.length;
        });
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8').slice(0, 65_536);
          if (status >= 300 && status < 400)
            reject(refused(url, `it answered a redirect (${status}); redirects are not followed`));
          else resolve({ status, text });
        });
        res.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new BackupError('unavailable', 'no answer in time')));
    request.on('error', reject);
    request.end(req.body);
  });
}

/**
 * The address to connect to for a tenant's host that is not reached over HTTP (an SMTP server), under the same rule:
 * the caller connects to this address, not the name, so a second look-up cannot answer something else.
 */
export async function permittedAddress(hostname: string, policy: OutboundPolicy): Promise<string> {
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  const url = new URL(`smtp://${net.isIP(host) === 6 ? `[${host}]` : host}`);
  const hostAllowed = policy.allowsHost(host);
  if (net.isIP(host)) {
    if (!hostAllowed && !policy.allowsAddress(host)) throw refused(url, 'not a public address');
    return host;
  }
  const addresses = await dns.promises.lookup(host, { all: true }).catch((e: NodeJS.ErrnoException) => {
    throw new BackupError(e.code === 'ENOTFOUND' ? 'invalid' : 'unavailable', `${host} does not resolve (${e.code})`);
  });
  const ok = addresses.find((a) => hostAllowed || policy.allowsAddress(a.address));
  if (!ok) throw refused(url, 'it resolves to an address that is not public');
  return ok.address;
}
