/**
 * A bounded free list of same-sized buffers. Buffers of this size are freed
 * only by a major GC, which a server busy moving bytes rarely runs, so fresh
 * ones per transfer pile up in the RSS; taken from here and given back once
 * nothing reads them, a burst reuses the same few. Past `limit` free ones, a
 * given-back buffer is left to the collector.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];

  constructor(private readonly make: () => Buffer, private readonly limit: number) {}

  take(): Buffer {
    return this.free.pop() ?? this.make();
  }

  /** Only once no reader or writer holds `buf` any more. */
  give(buf: Buffer): void {
    if (this.free.length < this.limit) this.free.push(buf);
  }

  /** Drops the free ones (their owner, e.g. the threads that shared them, is gone). */
  clear(): void {
    this.free.length = 0;
  }
}
