/**
 * Rendered index pages, kept under the repository's change token, so a busy
 * page is rendered (and gzipped) once per change rather than once per
 * request. Bounded by bytes: a 2,000-file page is about 1 MB, 0.4 MB gzipped.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { LRUCache } from 'lru-cache';

const gzipAsync = promisify(gzip);

export interface RenderedPage {
  body: Buffer;
  etag: string;
  /** The gzip encoding, made on first demand (on the threadpool, not the event loop). */
  gzipped(): Promise<Buffer>;
}

/** A strong ETag from the bytes (or inputs) that determine a representation. */
export function etagOf(data: string | Buffer): string {
  return `"${createHash('sha256').update(data).digest('base64url').slice(0, 27)}"`;
}

export class PageCache {
  private readonly lru: LRUCache<string, RenderedPage>;

  constructor(maxBytes = 64 * 1024 * 1024) {
    this.lru = new LRUCache<string, RenderedPage>({ maxSize: maxBytes, sizeCalculation: (p) => p.body.length + 200 });
  }

  async get(key: string, token: string, render: () => Promise<string>): Promise<RenderedPage> {
    const full = `${key}\u0000${token}`;
    const hit = this.lru.get(full);
    if (hit) return hit;
    const body = Buffer.from(await render(), 'utf8');
    let gz: Promise<Buffer> | null = null;
    const page: RenderedPage = {
      body,
      // The ETag is the content's hash: stable across restarts and replicas.
      etag: etagOf(body),
      gzipped: () => (gz ??= gzipAsync(body)),
    };
    this.lru.set(full, page);
    return page;
  }
}
