/**
 * Which blobs this process is reading right now, so that eviction never
 * removes one under a response. Blobs are shared (the same wheel cached by
 * two remotes is stored once), so there is one table per process, keyed by
 * sha256. Other processes on the same storage are covered by a grace period
 * on the recorded access times instead (see cached-files.ts).
 */
export class BlobPins {
  private readonly counts = new Map<string, number>();
  /** Blobs being evicted: new holds wait for the eviction to finish, then find the blob gone. */
  private readonly removing = new Map<string, Promise<unknown>>();
  private readonly idle = new Map<string, (() => void)[]>();

  /** Pins the blob once no eviction of it is running; the returned function unpins it (once). */
  async hold(sha256: string): Promise<() => void> {
    for (let r = this.removing.get(sha256); r; r = this.removing.get(sha256)) await r.catch(() => undefined);
    return this.pin(sha256);
  }

  /** Pins at once: for a blob its caller already holds (one more reader of it). */
  pin(sha256: string): () => void {
    this.counts.set(sha256, (this.counts.get(sha256) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.counts.get(sha256) ?? 1) - 1;
      if (n > 0) {
        this.counts.set(sha256, n);
        return;
      }
      this.counts.delete(sha256);
      const waiting = this.idle.get(sha256) ?? [];
      this.idle.delete(sha256);
      for (const w of waiting) w();
    };
  }

  held(sha256: string): boolean {
    return this.counts.has(sha256);
  }

  /** Resolves when nobody in this process holds the blob. */
  released(sha256: string): Promise<void> {
    if (!this.held(sha256)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.idle.get(sha256) ?? [];
      list.push(resolve);
      this.idle.set(sha256, list);
    });
  }

  /**
   * Runs `remove` unless the blob is held, with new holds waiting until it
   * is done. Resolves with what it returned, or null when the blob was held.
   */
  async removeUnlessHeld<T>(sha256: string, remove: () => Promise<T>): Promise<T | null> {
    if (this.held(sha256) || this.removing.has(sha256)) return null;
    const running = remove();
    this.removing.set(sha256, running);
    try {
      return await running;
    } finally {
      this.removing.delete(sha256);
    }
  }
}
