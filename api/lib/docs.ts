// What the API says about itself: the health check, the OpenAPI document every route adds to, and its reference page.
import { Scalar } from '@scalar/hono-api-reference';
import type { Router } from './router.ts';

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
  app.get('/docs', Scalar({ url: '/openapi.json', pageTitle: 'Backup platform API' }));
}
