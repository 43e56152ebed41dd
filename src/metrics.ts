import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface UpstreamMetrics {
  requests: Counter<'repo' | 'kind' | 'status'>;
  failures: Counter<'repo' | 'kind'>;
  downloads: Counter<'repo'>;
  rejectedFiles: Counter<'repo'>;
  /** Upstream files pydepot stopped serving because the upstream removed them, by cause. */
  removals: Counter<'repo' | 'cause'>;
  /** Requests for removed files answered 410. */
  removedRefused: Counter<'repo'>;
}

export interface ConfusionMetrics {
  upstreamSkipped: Counter<'repo' | 'reason'>;
}

export interface WheelCacheMetrics {
  /** Uploads to wheel caches: created, unchanged, or the rule that refused them. */
  uploads: Counter<'repo' | 'outcome'>;
  /** Cache wheels served (a download of the file, through the cache or a virtual repository). */
  hits: Counter<'repo'>;
}

export interface AuthMetrics {
  /** Requests refused by access control: 401 (no or bad credentials), 403, 429. */
  refused: Counter<'repo' | 'status'>;
  /** Password hashes run to check credentials (decoys for unknown users included; remembered verifications run none). */
  passwordChecks: Counter;
}

export interface Metrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  duration: Histogram<'method' | 'route'>;
  uploads: Counter<'repo' | 'outcome'>;
  upstream: UpstreamMetrics;
  confusion: ConfusionMetrics;
  wheelcache: WheelCacheMetrics;
  auth: AuthMetrics;
}

/** `squatCount`: read when scraped, so names found by the CLI's check count too. */
export function createMetrics(squatCount?: () => number): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pydepot_' });
  if (squatCount) {
    new Gauge({
      name: 'pydepot_confusion_squatted_projects', help: 'Internal project names that an upstream also holds (see `pydepot confusion report`)',
      registers: [registry],
      collect() { this.set(squatCount()); },
    });
  }
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
    upstream: {
      requests: new Counter({
        name: 'pydepot_upstream_requests_total', help: 'Index requests to upstreams by kind (page, root) and status',
        labelNames: ['repo', 'kind', 'status'], registers: [registry],
      }),
      failures: new Counter({
        name: 'pydepot_upstream_failures_total', help: 'Upstream requests that failed, by kind (page, root: stale copy served or 502/504; file, metadata: 502/504)',
        labelNames: ['repo', 'kind'], registers: [registry],
      }),
      downloads: new Counter({
        name: 'pydepot_upstream_downloads_total', help: 'File downloads started from upstreams (one per file, however many clients)',
        labelNames: ['repo'], registers: [registry],
      }),
      rejectedFiles: new Counter({
        name: 'pydepot_upstream_files_rejected_total', help: 'Upstream files refused: wrong sha256 or size, or cut short',
        labelNames: ['repo'], registers: [registry],
      }),
      removals: new Counter({
        name: 'pydepot_upstream_removals_total',
        help: 'Upstream removals propagated: files no longer served because the upstream deleted them, deleted their project or quarantined it (cause: deleted, project-deleted, quarantined), counted when first noticed',
        labelNames: ['repo', 'cause'], registers: [registry],
      }),
      removedRefused: new Counter({
        name: 'pydepot_upstream_removed_refused_total', help: 'Requests for files the upstream removed, answered 410 Gone',
        labelNames: ['repo'], registers: [registry],
      }),
    },
    auth: {
      refused: new Counter({
        name: 'pydepot_auth_refused_total', help: 'Requests refused by access control, by repository and status (401, 403, 429)',
        labelNames: ['repo', 'status'], registers: [registry],
      }),
      passwordChecks: new Counter({
        name: 'pydepot_auth_password_checks_total',
        help: 'Password hashes (scrypt) run to check credentials, decoys for unknown users included; at most auth.failedLoginsPerMinute failing ones per client address per minute',
        registers: [registry],
      }),
    },
    wheelcache: {
      uploads: new Counter({
        name: 'pydepot_wheelcache_uploads_total',
        help: 'Uploads to wheel caches by outcome: created, unchanged, or the refusing rule (sdist, non-portable, internal, no-release, quarantined, filename-taken, platform-served, dependencies, cannot-check)',
        labelNames: ['repo', 'outcome'], registers: [registry],
      }),
      hits: new Counter({
        name: 'pydepot_wheelcache_hits_total', help: 'Cache wheels served, directly or through a virtual repository',
        labelNames: ['repo'], registers: [registry],
      }),
    },
    confusion: {
      upstreamSkipped: new Counter({
        name: 'pydepot_confusion_upstream_skipped_total',
        help: 'Project lookups in virtual repositories whose remote members were not asked: the name is internal (hosted, or matches an internal pattern)',
        labelNames: ['repo', 'reason'], registers: [registry],
      }),
    },
  };
}
