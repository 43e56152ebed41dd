import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface UpstreamMetrics {
  requests: Counter<'repo' | 'kind' | 'status'>;
  failures: Counter<'repo' | 'kind'>;
  downloads: Counter<'repo'>;
  rejectedFiles: Counter<'repo'>;
  /** Upstream files pydepot stopped serving because the upstream removed them, by cause. */
  removals: Counter<'repo' | 'cause'>;
  /** Requests for removed files answered 410. */
  removedRefused: Counter<'repo'>;
  /** Core metadata read out of upstream wheels, by method (range, blob, full). */
  metadataExtracted: Counter<'repo' | 'method'>;
  /** Wheels whose metadata could not be read, by reason (malformed, no-range, upstream, storage). */
  metadataFailures: Counter<'repo' | 'reason'>;
  /** Body bytes of the Range requests made to read metadata out of upstream wheels. */
  metadataBytes: Counter<'repo'>;
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

export interface CooldownMetrics {
  /** Pages built in which an exemption listed files still in their cooldown. */
  exemptionUses: Counter<'repo'>;
}

export interface AuthMetrics {
  /** Requests refused by access control: 401 (no or bad credentials), 403, 429. */
  refused: Counter<'repo' | 'status'>;
  /** Password hashes run to check credentials (decoys for unknown users included; remembered verifications run none). */
  passwordChecks: Counter;
}

/** Files a remote repository holds: hits, and what its size limit evicts. */
export interface CacheMetrics {
  /** Files asked of a remote: `hit` served from the cache, `miss` fetched from upstream. */
  lookups: Counter<'repo' | 'result'>;
  /** Bytes of the files served from the cache: what the upstream was not asked for. */
  hitBytes: Counter<'repo'>;
  evictions: Counter<'repo'>;
  evictedBytes: Counter<'repo'>;
}

/** The server's scheduled scrubs (`scrub.interval`). */
export interface ScrubMetrics {
  blobs: Counter;
  bytes: Counter;
  corrupt: Counter;
}

/** Distribution files sent, by where their bytes came from (what the web UI's cache statistics show). */
export interface ServedMetrics {
  /** Responses with a file body (GET 200/206), by repository and source: hosted, cache, upstream. */
  files: Counter<'repo' | 'source'>;
  /** Their body bytes. */
  bytes: Counter<'repo' | 'source'>;
}

export interface Metrics {
  registry: Registry;
  /** In a worker of a cluster: the whole server's metrics, from every worker (what /-/metrics answers). */
  cluster?: () => Promise<string>;
  served: ServedMetrics;
  requests: Counter<'method' | 'route' | 'status'>;
  duration: Histogram<'method' | 'route'>;
  uploads: Counter<'repo' | 'outcome'>;
  upstream: UpstreamMetrics;
  confusion: ConfusionMetrics;
  wheelcache: WheelCacheMetrics;
  cooldown: CooldownMetrics;
  auth: AuthMetrics;
  cache: CacheMetrics;
  scrub: ScrubMetrics;
}

/**
 * `squatCount`: read when scraped, so names found by the CLI's check count too.
 * `cooldownHidden`: files held back by the cooldown right now, by repository,
 * also read when scraped (the count changes with the clock alone).
 * `worker`: this process is worker n of a cluster (`workers: n`). /-/metrics
 * then answers for the whole server (clusterMetrics): counters and histograms
 * are summed over the workers, the process metrics (prom-client's defaults:
 * memory, CPU, event loop) stay per worker, labelled `worker`, and the gauges
 * read from the storage, which every worker reads alike, take the largest
 * worker's value (aggregator 'max') rather than a sum that counts them n times.
 */
export function createMetrics(squatCount?: () => Promise<number>, cooldownHidden?: () => Promise<ReadonlyMap<string, number>>, worker?: number): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pydepot_', ...(worker === undefined ? {} : { labels: { worker: String(worker) } }) });
  if (squatCount) {
    new Gauge({
      name: 'pydepot_confusion_squatted_projects', help: 'Internal project names that an upstream also holds (see `pydepot confusion report`)',
      registers: [registry], aggregator: 'max',
      // prom-client awaits a collect that returns a promise.
      async collect() { this.set(await squatCount()); },
    });
  }
  if (cooldownHidden) {
    new Gauge({
      name: 'pydepot_cooldown_hidden_files',
      help: 'Upstream files left out of project pages because they are younger than the cooldown, by the repository serving the pages (pages served in the last while)',
      // Each worker counts the pages it served lately: the largest count is the closest to the truth.
      labelNames: ['repo'], registers: [registry], aggregator: 'max',
      async collect() {
        const hidden = await cooldownHidden();
        this.reset();
        for (const [repo, n] of hidden) this.set({ repo }, n);
      },
    });
  }
  return {
    registry,
    ...(worker !== undefined && cluster.isWorker && process.send ? { cluster: clusterMetrics(registry) } : {}),
    served: {
      files: new Counter({
        name: 'pydepot_files_served_total',
        help: 'Distribution files sent (GET 200/206), by the repository asked and where the bytes came from: hosted (uploads), cache (a remote\'s cached copy), upstream (fetched for this request)',
        labelNames: ['repo', 'source'], registers: [registry],
      }),
      bytes: new Counter({
        name: 'pydepot_files_served_bytes_total', help: 'Body bytes of the distribution files sent, by repository and source (hosted, cache, upstream)',
        labelNames: ['repo', 'source'], registers: [registry],
      }),
    },
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
      metadataExtracted: new Counter({
        name: 'pydepot_metadata_extracted_total',
        help: 'Core metadata read out of upstream wheels their index gave none for, by method (range: HTTP Range requests; blob: the cached wheel; full: the whole wheel, downloaded and cached)',
        labelNames: ['repo', 'method'], registers: [registry],
      }),
      metadataFailures: new Counter({
        name: 'pydepot_metadata_extraction_failures_total',
        help: 'Upstream wheels whose core metadata was not read, by reason (malformed: the zip, remembered; no-range: the upstream ignores Range and the whole wheel was not wanted; upstream: unreachable or wrong answer; storage)',
        labelNames: ['repo', 'reason'], registers: [registry],
      }),
      metadataBytes: new Counter({
        name: 'pydepot_metadata_upstream_bytes_total',
        help: 'Bytes received from upstreams in Range requests for core metadata (whole-wheel downloads count as downloads)',
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
    cooldown: {
      exemptionUses: new Counter({
        name: 'pydepot_cooldown_exemption_uses_total',
        help: 'Project pages built in which a cooldown exemption listed files still in their cooldown, by the repository serving them',
        labelNames: ['repo'], registers: [registry],
      }),
    },
    cache: {
      lookups: new Counter({
        name: 'pydepot_cache_lookups_total', help: 'Files asked of remote repositories: result=hit served from the cache, result=miss fetched from upstream',
        labelNames: ['repo', 'result'], registers: [registry],
      }),
      hitBytes: new Counter({
        name: 'pydepot_cache_hit_bytes_total', help: 'Bytes of the files served from a remote repository\'s cache (what the upstream was not asked for)',
        labelNames: ['repo'], registers: [registry],
      }),
      evictions: new Counter({
        name: 'pydepot_cache_evictions_total', help: 'Cached files evicted by maxCacheSize, least recently used first',
        labelNames: ['repo'], registers: [registry],
      }),
      evictedBytes: new Counter({
        name: 'pydepot_cache_evicted_bytes_total', help: 'Bytes of the cached files evicted by maxCacheSize',
        labelNames: ['repo'], registers: [registry],
      }),
    },
    scrub: {
      blobs: new Counter({ name: 'pydepot_scrub_blobs_total', help: 'Blobs re-hashed by the scheduled scrub (scrub.interval)', registers: [registry] }),
      bytes: new Counter({ name: 'pydepot_scrub_bytes_total', help: 'Bytes re-hashed by the scheduled scrub', registers: [registry] }),
      corrupt: new Counter({ name: 'pydepot_scrub_corrupt_blobs_total', help: 'Blobs the scheduled scrub found corrupt and quarantined', registers: [registry] }),
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

/** What the storage gauges read when scraped: whichever process changed it (a CLI scrub, gc, prefetch) counts. */
export interface StorageGaugeSource {
  /** Every remote repository: the files it holds, and its limit (null: none). */
  caches(): Promise<{ repo: string; files: number; bytes: number; limit: number | null }[]>;
  /** The last scrub and gc: when they finished (ms since epoch) and their counts. */
  lastRun(kind: 'scrub' | 'gc'): Promise<{ at: number; summary: Record<string, number> } | null>;
}

/** Registers the gauges of remote caches and of the last scrub and gc. */
export function storageGauges(metrics: Metrics, source: StorageGaugeSource): void {
  const registers = [metrics.registry];
  const caches = (pick: (c: Awaited<ReturnType<StorageGaugeSource['caches']>>[number]) => number | null) => async function (this: Gauge<'repo'>): Promise<void> {
    const all = await source.caches();
    this.reset();
    for (const c of all) {
      const v = pick(c);
      if (v !== null) this.set({ repo: c.repo }, v);
    }
  };
  // Read from the storage, alike in every worker: across workers, one value (not their sum).
  const aggregator = 'max';
  new Gauge({ name: 'pydepot_cache_size_bytes', help: 'Bytes of the files each remote repository holds (what maxCacheSize limits)', labelNames: ['repo'], registers, aggregator, collect: caches((c) => c.bytes) });
  new Gauge({ name: 'pydepot_cache_files', help: 'Files each remote repository holds', labelNames: ['repo'], registers, aggregator, collect: caches((c) => c.files) });
  new Gauge({ name: 'pydepot_cache_limit_bytes', help: 'maxCacheSize of each remote repository that has one', labelNames: ['repo'], registers, aggregator, collect: caches((c) => c.limit) });
  const last = (kind: 'scrub' | 'gc', name: string, help: string, pick: (r: { at: number; summary: Record<string, number> }) => number | undefined) => new Gauge({
    name, help, registers, aggregator,
    async collect() {
      const run = await source.lastRun(kind);
      const v = run ? pick(run) : undefined;
      if (v !== undefined) this.set(v);
    },
  });
  last('scrub', 'pydepot_scrub_last_run_timestamp_seconds', 'When the last scrub (CLI or scheduled) finished', (r) => r.at / 1000);
  last('scrub', 'pydepot_scrub_last_checked_blobs', 'Blobs the last scrub re-hashed', (r) => r.summary.checked);
  last('scrub', 'pydepot_scrub_last_corrupt_blobs', 'Blobs the last scrub found corrupt and quarantined', (r) => r.summary.corrupt);
  last('gc', 'pydepot_gc_last_run_timestamp_seconds', 'When the last gc finished', (r) => r.at / 1000);
  last('gc', 'pydepot_gc_last_freed_bytes', 'Bytes the last gc freed (unreferenced blobs and stale temp files)', (r) => r.summary.freedBytes);
}

// --- /-/metrics across the workers of a cluster --------------------------------------
//
// The worker that takes the request asks the primary; the primary asks every
// worker for its registry (prom-client's AggregatorRegistry, over the cluster's
// IPC channel), aggregates them and answers the worker that asked.

const METRICS_REQ = 'pydepot:metrics-req';
const METRICS_RES = 'pydepot:metrics-res';
/** Beyond prom-client's own 5 s wait for the workers. */
const CLUSTER_METRICS_TIMEOUT_MS = 10_000;

interface MetricsRequest { type: typeof METRICS_REQ; id: number }
interface MetricsResponse { type: typeof METRICS_RES; id: number; text?: string; error?: string }

let serving = false;

/** In the primary: answers the workers' requests for the whole cluster's metrics. */
export function serveClusterMetrics(): void {
  if (serving) return;
  serving = true;
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker: Worker, message: Partial<MetricsRequest> | null) => {
    if (message?.type !== METRICS_REQ) return;
    const reply = (r: Omit<MetricsResponse, 'type' | 'id'>): void => {
      if (worker.isConnected()) worker.send({ type: METRICS_RES, id: message.id, ...r });
    };
    aggregator.clusterMetrics().then((text) => reply({ text }), (err: Error) => reply({ error: err.message }));
  });
}

/** The Prometheus content type of the aggregated text. */
export const CLUSTER_METRICS_TYPE = AggregatorRegistry.PROMETHEUS_CONTENT_TYPE;

let nextRequest = 0;
const pending = new Map<number, (r: MetricsResponse) => void>();

/**
 * In a worker: answers the primary's requests with this registry, and
 * returns how to ask the primary for every worker's metrics, aggregated.
 */
export function clusterMetrics(registry: Registry): () => Promise<string> {
  AggregatorRegistry.setRegistries([registry]);
  // Its constructor, in a worker, answers the primary's requests for the registries set above.
  new AggregatorRegistry();
  process.on('message', (message: Partial<MetricsResponse> | null) => {
    if (message?.type !== METRICS_RES || typeof message.id !== 'number') return;
    pending.get(message.id)?.(message as MetricsResponse);
  });
  return () => new Promise<string>((resolve, reject) => {
    const id = nextRequest++;
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`the primary did not answer with the workers' metrics within ${CLUSTER_METRICS_TIMEOUT_MS / 1000} s`));
    }, CLUSTER_METRICS_TIMEOUT_MS);
    pending.set(id, (r) => {
      clearTimeout(timer);
      pending.delete(id);
      if (r.text !== undefined) resolve(r.text);
      else reject(new Error(`the workers' metrics could not be gathered: ${r.error ?? 'no answer'}`));
    });
    process.send!({ type: METRICS_REQ, id } satisfies MetricsRequest);
  });
}
