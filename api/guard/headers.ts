// Security headers on every answer. The API answers JSON and files, which no browser should run, frame or cache;
// the docs page and the console run only this origin's scripts (served from the installed packages and the console's
// own files; no inline script), and the console no inline style either.
import type { MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';

export function securityHeaders(opts: { https: boolean }): MiddlewareHandler {
  const common = {
    strictTransportSecurity: opts.https ? 'max-age=31536000; includeSubDomains' : false,
    xFrameOptions: 'DENY',
    referrerPolicy: 'no-referrer',
    crossOriginResourcePolicy: 'same-origin',
    crossOriginOpenerPolicy: 'same-origin',
  } as const;
  const api = secureHeaders({
    ...common,
    contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"] },
  });
  const page = secureHeaders({
    ...common,
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      fontSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
    },
  });
  const consolePage = secureHeaders({
    ...common,
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
    },
  });
  return async (c, next) => {
    const p = c.req.path;
    const isConsole = p === '/' || p === '/console' || p.startsWith('/console/');
    const isPage = isConsole || p === '/docs' || p.startsWith('/docs/');
    await (isConsole ? consolePage : isPage ? page : api)(c, async () => {
      await next();
      // Answers carry tenant data and tokens: nothing between the API and the admin keeps a copy.
      if (!isPage && !c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
    });
  };
}
