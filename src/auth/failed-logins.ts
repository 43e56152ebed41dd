/**
 * Failed logins per client address, in fixed one-minute windows. Beyond the
 * budget every request with credentials from that address is refused until
 * the window ends, right or wrong: otherwise guessing would simply go on.
 */
import { LRUCache } from 'lru-cache';

const WINDOW_MS = 60_000;

interface Window {
  failures: number;
  endsAt: number;
}

export class FailedLogins {
  // Bounded: an attacker with many addresses cannot grow it without limit.
  private readonly windows = new LRUCache<string, Window>({ max: 100_000 });

  constructor(private readonly perMinute: number, private readonly now: () => number = Date.now) {}

  /** Seconds until `address` may try again; 0 when it may now. */
  retryAfter(address: string): number {
    const w = this.windows.get(address);
    const t = this.now();
    if (!w || w.endsAt <= t || w.failures < this.perMinute) return 0;
    return Math.max(1, Math.ceil((w.endsAt - t) / 1000));
  }

  fail(address: string): void {
    const t = this.now();
    const w = this.windows.get(address);
    if (!w || w.endsAt <= t) this.windows.set(address, { failures: 1, endsAt: t + WINDOW_MS });
    else w.failures++;
  }
}
