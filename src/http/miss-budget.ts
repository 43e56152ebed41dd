/**
 * Distinct project names per client address per minute that turned out not
 * to exist. Each miss may cost an upstream request and a remembered 404, so
 * a client asking for random names is refused (429) for the rest of its
 * window. Names, not requests, are counted: a thousand nodes behind one NAT
 * asking for the same misspelt name count once.
 */
import { LRUCache } from 'lru-cache';

const WINDOW_MS = 60_000;

interface Window {
  names: Set<string>;
  endsAt: number;
}

export class MissBudget {
  // Bounded: an attacker with many addresses cannot grow it without limit.
  private readonly windows = new LRUCache<string, Window>({ max: 100_000 });

  constructor(private readonly perMinute: number, private readonly now: () => number = Date.now) {}

  /** Seconds until `address` may look up projects again; 0 when it may now. */
  retryAfter(address: string): number {
    const w = this.windows.get(address);
    const t = this.now();
    if (!w || w.endsAt <= t || w.names.size < this.perMinute) return 0;
    return Math.max(1, Math.ceil((w.endsAt - t) / 1000));
  }

  /** `address` asked for `project`, which no member has. */
  miss(address: string, project: string): void {
    const t = this.now();
    let w = this.windows.get(address);
    if (!w || w.endsAt <= t) this.windows.set(address, (w = { names: new Set(), endsAt: t + WINDOW_MS }));
    // The set stops growing at the budget: past it the address is refused anyway.
    if (w.names.size < this.perMinute) w.names.add(project);
  }
}
