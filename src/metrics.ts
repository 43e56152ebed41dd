import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  duration: Histogram<'method' | 'route'>;
  uploads: Counter<'repo' | 'outcome'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pydepot_' });
  return {
    registry,
    requests: new Counter({
      name: 'pydepot_http_requests_total', help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'], registers: [registry],
    }),
    duration: new Histogram({
      name: 'pydepot_http_request_duration_seconds', help: 'Time until the last byte of the response was sent',
      labelNames: ['method', 'route'], registers: [registry],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    }),
    uploads: new Counter({
      name: 'pydepot_uploads_total', help: 'Accepted uploads by repository and outcome (created, unchanged, replaced)',
      labelNames: ['repo', 'outcome'], registers: [registry],
    }),
  };
}
