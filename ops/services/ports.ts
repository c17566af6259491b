// A loopback port that is free now: every test file starts its own services, so files can run side by side.
// The port is drawn from below the kernel's ephemeral range: a port the kernel hands out as free (port 0) may be
// some outgoing connection's source port a moment later, before the service that was meant to bind it does.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';

const LOWEST = 10_000;

function ephemeralLow(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > 0 ? first : 32_768;
  } catch {
    return 32_768;
  }
}

async function canBind(port: number): Promise<number | undefined> {
  const server = net.createServer();
  server.listen(port, '127.0.0.1');
  // Not events.once: it rejects on 'error', and a taken port is an answer here, not a failure.
  const ok = await new Promise<boolean>((resolve) => {
    server.once('listening', () => resolve(true));
    server.once('error', () => resolve(false));
  });
  const bound = ok ? (server.address() as net.AddressInfo).port : undefined;
  if (ok) {
    server.close();
    await once(server, 'close');
  }
  return bound;
}

export async function freePort(): Promise<number> {
  const high = ephemeralLow();
  for (let i = 0; high - LOWEST > 1000 && i < 100; i++) {
    const port = await canBind(LOWEST + Math.floor(Math.random() * (high - LOWEST)));
    if (port) return port;
  }
  const port = await canBind(0);
  if (!port) throw new Error('no free loopback port');
  return port;
}
