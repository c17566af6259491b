// What the API says about itself: the health check, the OpenAPI document every route adds to, and its reference page.
// The page's script and styles come from the installed swagger-ui-dist package, served here: nothing loads from a CDN,
// and the page's CSP allows only this origin's scripts.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Router } from './router.ts';

const assetsDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Backup platform API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="alternate" type="application/json" href="/openapi.json" title="OpenAPI document"></head>
<body><div id="api"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>`;
const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#api', deepLinking: true });`;

export function mountDocs(app: Router): void {
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
  });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Backup platform API', version: '1' },
    security: [{ bearer: [] }],
  });
  app.get('/docs', (c) => c.html(PAGE));
  app.get('/docs/init.js', (c) => c.body(INIT, 200, { 'content-type': 'text/javascript; charset=utf-8' }));
  const cache = new Map<string, Buffer>();
  app.get('/docs/:asset', async (c) => {
    const name = c.req.param('asset');
    const type = ASSETS[name];
    if (!type) return c.notFound();
    let body = cache.get(name);
    if (!body) cache.set(name, (body = await readFile(path.join(assetsDir, name))));
    return c.body(new Uint8Array(body), 200, { 'content-type': type, 'cache-control': 'public, max-age=86400' });
  });
}
