// The HTTP API: `createApp(deps)` builds it; api/main.ts serves it; tests call `app.request(...)`. This file only
// composes: the middleware, error handling and helpers are in lib/, each resource's routes in its own folder.
import { requireUser } from './auth/tokens.ts';
import { mountDocs } from './lib/docs.ts';
import { errorHandler, noRoute } from './lib/errors.ts';
import { accessLog, DEPENDENCY_TIMEOUT_MS, limitBodies, refuseNul, temporalDeadlines } from './lib/middleware.ts';
import { securityHeaders } from './guard/headers.ts';
import { router } from './lib/router.ts';
import { createServices, type AppDeps } from './lib/services.ts';
import { siteWorkerRoutes } from './agent/routes.ts';
import { accountRoutes } from './account/routes.ts';
import { backupRoutes } from './backups/routes.ts';
import { configRoutes } from './configs/routes.ts';
import { serverRoutes } from './servers/routes.ts';
import { siteRoutes } from './sites/routes.ts';
import { tenantRoutes } from './tenant/routes.ts';
import { destinationRoutes } from './destinations/routes.ts';
import { syncRoutes } from './sync/routes.ts';
import { restoreRoutes } from './restores/routes.ts';
import { checkRoutes } from './checks/routes.ts';
import { consoleRoutes } from './console/routes.ts';
import { statisticsRoutes } from './statistics/routes.ts';
import { domainRoutes } from './domains/routes.ts';
import { channelRoutes } from './channels/routes.ts';
import { resolveHost } from './domains/hosts.ts';
import { mountMetrics, requestLatency } from './metrics/routes.ts';
import { privacyOpenRoutes, privacyRoutes } from './privacy/routes.ts';
import { mirrorRoutes } from './mirrors/routes.ts';

export function createApp(deps: AppDeps) {
  const services = createServices(deps);
  const app = router();
  app.use('*', accessLog(deps.logger));
  app.use('*', requestLatency());
  app.use('*', securityHeaders({ https: deps.https ?? false }));
  app.use('*', temporalDeadlines(deps.dependencyTimeoutMs ?? DEPENDENCY_TIMEOUT_MS));
  app.use('/api/v1/*', limitBodies());
  app.use('/api/v1/*', refuseNul);
  app.use('/api/v1/*', resolveHost(services.hosts));
  app.onError(errorHandler(deps.logger));
  app.notFound(noRoute);
  mountDocs(app);
  mountMetrics(app, deps.db, deps.metricsToken);
  app.route(
    '/',
    consoleRoutes({
      temporalUi: deps.temporalUiUrl ?? 'http://127.0.0.1:8233',
      namespace: deps.temporal.namespace,
    }),
  );

  // Open routes first; everything else under /api/v1 needs a signed-in user.
  app.route('/api/v1', accountRoutes(services));
  app.route('/api/v1', siteWorkerRoutes(services));
  app.route('/api/v1', privacyOpenRoutes(services));
  app.use('/api/v1/*', requireUser(deps.jwtSecret, services.roles));
  app.route('/api/v1', tenantRoutes(services));
  app.route('/api/v1', siteRoutes(services));
  app.route('/api/v1', serverRoutes(services));
  app.route('/api/v1', configRoutes(services));
  app.route('/api/v1', backupRoutes(services));
  app.route('/api/v1', destinationRoutes(services));
  app.route('/api/v1', syncRoutes(services));
  app.route('/api/v1', restoreRoutes(services));
  app.route('/api/v1', checkRoutes(services));
  app.route('/api/v1', statisticsRoutes(services));
  app.route('/api/v1', domainRoutes(services));
  app.route('/api/v1', privacyRoutes(services));
  app.route('/api/v1', mirrorRoutes(services));
  app.route('/api/v1', channelRoutes(services));
  return app;
}

export type App = ReturnType<typeof createApp>;
