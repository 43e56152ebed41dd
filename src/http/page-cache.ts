/**
 * Rendered index pages, kept under the repository's change token, so a busy
 * page is rendered once per change rather than once per request. Bounded by
 * bytes: a 2,000-file page is a few hundred KiB.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

export interface RenderedPage {
  body: Buffer;
  etag: string;
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
    // The ETag is the content's hash: stable across restarts and replicas.
    const page = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
    this.lru.set(full, page);
    return page;
  }
}
