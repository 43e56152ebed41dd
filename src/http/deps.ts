/** What the HTTP layer is built from: each route factory takes the slice it uses. */
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Registry } from '../repos/registry.ts';
import type { AuditStore, BlobStore, MetadataStore, RemoteCacheStore, SquatStore, UserStore } from '../storage/types.ts';
import type { AccessControl } from './middleware/access.ts';
import type { MissBudget } from './miss-budget.ts';
import type { PageCache } from './page-cache.ts';
import type { ServeStats } from './serve-stats.ts';

export interface AppDeps {
  registry: Registry;
  blobs: BlobStore;
  store: MetadataStore;
  logger: Logger;
  metrics: Metrics;
  pageCache: PageCache;
  access: AccessControl;
  /** Client addresses (for the failed-login budget and the audit) from X-Forwarded-For. */
  trustProxy?: boolean;
  /** Tells this storage's ETags apart from another's whose serials happen to match. */
  instanceId: string;
  /** limits.bodyIdleTimeout, in ms. */
  bodyIdleTimeoutMs: number;
  /** Distinct missing project names per client (limits.missesPerMinute). */
  misses: MissBudget;
  /** limits.bodyMinRate, in bytes per second (0: none). */
  bodyMinRate: number;
  /** Files sent since start, by source and project (the web UI's cache statistics). */
  serveStats: ServeStats;
  /** What the web UI reads besides repositories: accounts and tokens, the audit trail, the squat report, remote caches. */
  users: UserStore;
  audit: AuditStore;
  squats: SquatStore;
  remoteStore: RemoteCacheStore;
  /** `sendfileOffload`: the X-Accel-Redirect prefix nginx maps to the blob folder; null/absent: pydepot sends the bytes. */
  offloadPrefix?: string | null;
}
