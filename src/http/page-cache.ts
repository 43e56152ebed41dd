/**
 * Rendered index pages, kept under the repository's change token with their
 * gzip encoding made beside them, so a busy page is rendered and compressed
 * once per change rather than once per request: a request then costs one
 * freshness lookup and the write of a buffer that is already there. Pages
 * are keyed by the change token, so an upload (a new token) is never
 * answered from an older compressed copy.
 *
 * Bounded by bytes, both encodings counted (64 MiB by default): a 2,000-file
 * page is about 1 MB, 0.13 MB gzipped.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { constants, gzip } from 'node:zlib';
import { LRUCache } from 'lru-cache';

const gzipAsync = promisify(gzip);

// Below this, gzip's header and CPU cost more than they save.
export const MIN_GZIP_BYTES = 1024;

/**
 * The smallest copy: made once per change and sent on every request, so its
 * extra CPU is paid once (the 2,000-file JSON page: 125,638 bytes against
 * 127,273 at the default level 6).
 */
const GZIP_LEVEL = constants.Z_BEST_COMPRESSION;

export interface RenderedPage {
  body: Buffer;
  etag: string;
  /** The gzip encoding; null when the page is too small to be worth it. */
  gzip: Buffer | null;
  /** Each encoding is its own representation, with its own ETag. */
  gzipEtag: string;
}

/** A strong ETag from the bytes (or inputs) that determine a representation. */
export function etagOf(data: string | Buffer): string {
  return `"${createHash('sha256').update(data).digest('base64url').slice(0, 27)}"`;
}

/** The gzip representation's ETag: it must differ from identity's (RFC 9110 §8.8.3). */
export function gzipEtagOf(etag: string): string {
  return `${etag.slice(0, -1)}-gzip"`;
}

export const DEFAULT_PAGE_CACHE_BYTES = 64 * 1024 * 1024;

export class PageCache {
  private readonly lru: LRUCache<string, RenderedPage>;
  /** Renders under way: a burst of requests just after a change renders the page once. */
  private readonly rendering = new Map<string, Promise<RenderedPage>>();

  constructor(maxBytes = DEFAULT_PAGE_CACHE_BYTES) {
    this.lru = new LRUCache<string, RenderedPage>({
      maxSize: maxBytes,
      sizeCalculation: (p) => p.body.length + (p.gzip?.length ?? 0) + 200,
    });
  }

  /** The page for `key` at `token` if it is rendered already; never renders. */
  peek(key: string, token: string): RenderedPage | undefined {
    return this.lru.get(`${key}\u0000${token}`);
  }

  get(key: string, token: string, render: () => Promise<string>): Promise<RenderedPage> | RenderedPage {
    const full = `${key}\u0000${token}`;
    const hit = this.lru.get(full);
    if (hit) return hit;
    let pending = this.rendering.get(full);
    if (!pending) {
      pending = this.make(render).then((page) => {
        this.lru.set(full, page);
        return page;
      }).finally(() => this.rendering.delete(full));
      this.rendering.set(full, pending);
    }
    return pending;
  }

  private async make(render: () => Promise<string>): Promise<RenderedPage> {
    const body = Buffer.from(await render(), 'utf8');
    // The ETag is the content's hash: stable across restarts and replicas.
    const etag = etagOf(body);
    // On the threadpool, not the event loop.
    const gz = body.length >= MIN_GZIP_BYTES ? await gzipAsync(body, { level: GZIP_LEVEL }) : null;
    return { body, etag, gzip: gz, gzipEtag: gzipEtagOf(etag) };
  }
}
