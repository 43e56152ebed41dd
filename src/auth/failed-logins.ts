/**
 * Failed logins per client address, in fixed one-minute windows that begin
 * with the first failure. Beyond the budget every request with credentials
 * from that address is refused until the window ends, right or wrong:
 * otherwise guessing would simply go on.
 *
 * A password check reserves its attempt before it hashes (`reserve`), in
 * the same synchronous step as the budget check, so a burst of concurrent
 * guesses cannot all pass the check before any of them has failed: at most
 * the budget is ever hashed. A right password gives its attempt back
 * (`release`), a wrong one keeps it as a failure (`spend`). Reservations in
 * flight refuse other hashes only; `retryAfter`, asked of every request
 * with credentials, counts failures alone.
 */
import { LRUCache } from 'lru-cache';

const WINDOW_MS = 60_000;

interface Window {
  failures: number;
  /** Checks that reserved an attempt and are still hashing. */
  reserved: number;
  /** When `failures` are forgotten; set by the first failure of a window. */
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
    return this.wait(w, t);
  }

  /**
   * Takes one attempt from `address`'s budget before a password is hashed:
   * 0 when taken, else the seconds to wait (refuse without hashing). Every
   * 0 must be followed by one `release` or one `spend`.
   */
  reserve(address: string): number {
    const t = this.now();
    const w = this.current(address, t);
    if (w.failures + w.reserved >= this.perMinute) return this.wait(w, t);
    w.reserved++;
    return 0;
  }

  /** The reserved check found the password right: its attempt is given back. */
  release(address: string): void {
    const w = this.windows.get(address);
    if (w && w.reserved > 0) w.reserved--;
  }

  /** The reserved check found the password wrong: its attempt is a failure. */
  spend(address: string): void {
    const t = this.now();
    const w = this.current(address, t);
    if (w.reserved > 0) w.reserved--;
    this.addFailure(w, t);
  }

  /**
   * A failure that reserved nothing (a wrong token, or a wrong password whose
   * hash another request ran): counted all the same. Returns 0 when it was
   * within the budget, else the seconds to wait (answer it as refused).
   */
  fail(address: string): number {
    const t = this.now();
    const w = this.current(address, t);
    const within = w.failures + w.reserved < this.perMinute;
    this.addFailure(w, t);
    return within ? 0 : this.wait(w, t);
  }

  /** The address's window, its failures forgotten once it has ended; checks still in flight carry over. */
  private current(address: string, t: number): Window {
    let w = this.windows.get(address);
    if (!w) {
      w = { failures: 0, reserved: 0, endsAt: 0 };
      this.windows.set(address, w);
    } else if (w.endsAt <= t) {
      w.failures = 0;
    }
    return w;
  }

  private addFailure(w: Window, t: number): void {
    if (w.failures === 0) w.endsAt = t + WINDOW_MS;
    w.failures++;
  }

  /** At least 1 s: when only checks in flight fill the budget, they settle soon. */
  private wait(w: Window, t: number): number {
    return Math.max(1, Math.ceil((w.endsAt - t) / 1000));
  }
}
