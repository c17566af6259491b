// Prometheus metrics of one process (prom-client). Every process has its own registry with Node's default metrics;
// the counters below live in it and are served by the API's /metrics and by each worker's METRICS_PORT listener.
// Labels never carry a database name, a path with ids or a secret: only ids, names of configurations, patterns.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { Logger } from './logger.ts';

export const METRICS_PREFIX = 'backup_platform_';

export const processRegistry = new Registry();
collectDefaultMetrics({ register: processRegistry, prefix: METRICS_PREFIX });

/** Incremented by the central worker's recordBackup, once per database of a run that has ended. */
export const runsTotal = new Counter({
  name: `${METRICS_PREFIX}runs_total`,
  help: 'Backups recorded (one per database of a run), by outcome.',
  labelNames: ['outcome'] as const,
  registers: [processRegistry],
});

export const httpRequestSeconds = new Histogram({
  name: `${METRICS_PREFIX}http_request_duration_seconds`,
  help: 'API request latency by route pattern (never the raw path), method and status class.',
  labelNames: ['route', 'method', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [processRegistry],
});

export const activitiesTotal = new Counter({
  name: `${METRICS_PREFIX}activities_total`,
  help: 'Activity executions on this worker, by activity type and outcome (success, failure, cancelled).',
  labelNames: ['activity', 'outcome'] as const,
  registers: [processRegistry],
});

/** The text of every registry given, in the Prometheus text format (their metric names do not overlap). */
export async function metricsText(...registries: Registry[]): Promise<string> {
  const parts = await Promise.all([processRegistry, ...registries].map((r) => r.metrics()));
  return parts.join('\n');
}

export const METRICS_CONTENT_TYPE = processRegistry.contentType;

/**
 * A worker's own /metrics listener (METRICS_PORT, on METRICS_HOST, loopback by default): it has no token, so it
 * stays on loopback or a private network that Prometheus reaches. Port 0 picks a free port; the log line says which.
 */
export async function serveMetrics(port: number, host: string, logger: Logger): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metricsText().then(
      (text) => res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  server.unref();
  const address = server.address() as AddressInfo;
  logger.info(`metrics on http://${host}:${address.port}/metrics`);
  return server;
}
