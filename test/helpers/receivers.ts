// Stand-ins for the services notifications go to, on loopback: one HTTP server for Slack, Teams, Discord, Telegram's
// Bot API and generic webhooks (told apart by path), and an SMTP server (smtp-server) that checks a login.
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: any;
}

export interface HttpReceiver {
  base: string;
  received: Received[];
  /** The next answers for paths that start with `prefix` (then 200/204 as the service answers). */
  answer(prefix: string, ...statuses: number[]): void;
  close(): Promise<void>;
}

export async function startHttpReceiver(): Promise<HttpReceiver> {
  const received: Received[] = [];
  const scripted = new Map<string, number[]>();
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      const path = req.url ?? '';
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
      received.push({ path, headers: req.headers, raw, body });
      const entry = [...scripted.entries()].find(([p, list]) => path.startsWith(p) && list.length > 0);
      const status = entry ? entry[1].shift()! : path.startsWith('/discord') ? 204 : 200;
      if (status === 204) return res.writeHead(204).end();
      if (path.includes('/sendMessage'))
        return res
          .writeHead(status, { 'content-type': 'application/json' })
          .end(
            status === 200
              ? JSON.stringify({ ok: true, result: { message_id: received.length } })
              : JSON.stringify({ ok: false, error_code: status, description: 'Bad Request: chat not found' }),
          );
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'no_service');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    answer: (prefix, ...statuses) => scripted.set(prefix, statuses),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface Mail {
  from: string;
  to: string[];
  user: string | undefined;
  subject: string;
  text: string;
  raw: string;
}

export interface SmtpReceiver {
  port: number;
  mails: Mail[];
  close(): Promise<void>;
}

/** Plain SMTP with AUTH PLAIN/LOGIN over loopback (no TLS): it accepts only `user`/`password`. */
export async function startSmtpReceiver(user: string, password: string): Promise<SmtpReceiver> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: false,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === user && auth.password === password) return callback(null, { user });
      callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (d: Buffer) => (raw += d.toString('utf8')));
      stream.on('end', () => {
        const [head = '', ...rest] = raw.split(/\r?\n\r?\n/);
        const headers = head.replace(/\r?\n[ \t]+/g, ' ');
        const subject = /^subject: (.*)$/im.exec(headers)?.[1] ?? '';
        let text = rest.join('\n\n');
        if (/content-transfer-encoding: quoted-printable/i.test(headers))
          text = text
            .replace(/=\r?\n/g, '')
            .replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user as string | undefined,
          subject,
          text: text.replace(/\r\n/g, '\n'),
          raw,
        });
        callback();
      });
    },
  });
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  return {
    port: (server.server.address() as AddressInfo).port,
    mails,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
