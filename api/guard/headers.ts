// Security headers on every answer. The API answers JSON and files, which no browser should run, frame or cache;
// the docs page runs only this origin's scripts (served from the installed package; no inline script).
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
  return async (c, next) => {
    const isPage = c.req.path === '/docs' || c.req.path.startsWith('/docs/');
    await (isPage ? page : api)(c, async () => {
      await next();
      // Answers carry tenant data and tokens: nothing between the API and the admin keeps a copy.
      if (!isPage && !c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
    });
  };
}
