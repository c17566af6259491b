// How the metadata database being away shows: refused or dropped connections fail at once, but a server that is hung
// (stopped, overloaded, a dead host whose packets vanish) never answers, and postgres.js would wait for it forever,
// holding the request and a pooled connection. A watchdog ends a connection the server leaves unanswered too long.
import net from 'node:net';

/** The code of the error a connection ends with when the server did not answer in time. */
export const NO_ANSWER = 'METADATA_DB_NO_ANSWER';

/** How often the watchdog looks at the connections: a tenth of a second is fine-grained enough for a 1.5 s limit. */
const TICK_MS = 100;

interface Watched {
  socket: net.Socket;
  read: number;
  written: number;
  /** Since when the client has sent bytes the server has not answered. */
  owedSince: number | undefined;
}

/**
 * postgres.js's `socket` option, opening each connection to the server itself, and a watchdog that destroys a
 * connection whose server has owed an answer for `timeoutMs`: its queries fail with NO_ANSWER and the pool opens a
 * fresh connection for the next one. It reads the socket's byte counters, which count under TLS too. `arm()` starts
 * it (after migrations, which may rightly take longer); `stop()` ends it with the pool.
 */
export function answerWatchdog(timeoutMs: number) {
  const live = new Set<Watched>();
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    const now = performance.now();
    for (const w of live) {
      const { bytesRead, bytesWritten } = w.socket;
      // Any byte from the server shows it alive; what was sent since is owed from now on.
      if (bytesRead !== w.read) [w.read, w.owedSince] = [bytesRead, undefined];
      if (bytesWritten !== w.written) [w.written, w.owedSince] = [bytesWritten, w.owedSince ?? now];
      if (w.owedSince !== undefined && now - w.owedSince > timeoutMs) {
        live.delete(w);
        const err = new Error(`the metadata database did not answer within ${timeoutMs / 1000} s`);
        w.socket.destroy(Object.assign(err, { code: NO_ANSWER }));
      }
    }
  };
  return {
    socket({ host, port }: { host: string[]; port: number[] }): net.Socket {
      // A host that is a folder is the server's Unix socket, named as libpq names it.
      const h = host[0]!;
      const socket = h.startsWith('/') ? net.connect(`${h}/.s.PGSQL.${port[0]}`) : net.connect(port[0]!, h);
      const w: Watched = { socket, read: 0, written: 0, owedSince: undefined };
      live.add(w);
      socket.once('close', () => live.delete(w));
      return socket;
    },
    arm() {
      timer ??= setInterval(tick, TICK_MS).unref();
    },
    stop() {
      clearInterval(timer);
    },
  };
}

/** Node's words for a server that cannot be reached, and postgres.js's for a connection that failed or went away. */
const CONNECTION_CODES = new Set([
  NO_ANSWER,
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_DESTROYED',
  'CONNECTION_ENDED',
]);

/**
 * Why a failed query means the database is unavailable (unreachable, hung, shutting down, starting, full), or
 * undefined for any other failure. Only errors from a query count (postgres.js gives them a `query`; drizzle wraps them
 * in a DrizzleQueryError), so a refused connection to somewhere else is not blamed on the database.
 */
export function databaseUnavailable(err: unknown): string | undefined {
  let fromQuery = false;
  for (let e = err as ErrorLike | undefined, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    fromQuery ||= e.name === 'DrizzleQueryError' || 'query' in e;
    const code = typeof e.code === 'string' ? e.code : '';
    // SQLSTATE 08: connection exception; 57P01-03: shutting down, crashed, starting up; 53300: too many connections.
    const unavailable = CONNECTION_CODES.has(code) || code.startsWith('08') || /^57P0[123]$|^53300$/.test(code);
    if (fromQuery && unavailable) return e.message || code;
    e = e.cause as ErrorLike | undefined;
  }
  return undefined;
}

type ErrorLike = { name?: string; code?: unknown; message?: string; cause?: unknown };
