/**
 * One run of the work per key, however many callers ask while it runs: one
 * upstream request per page, one download per file. A flight is whatever
 * callers share (a promise, a download they read together); it leaves the
 * table when `landed(flight)` settles, so the next caller starts afresh.
 */
export class SingleFlight<K, F> {
  private readonly flights = new Map<K, F>();

  constructor(private readonly landed: (flight: F) => Promise<unknown>) {}

  /** The flight under `key`, started by `start` when none is running. */
  join(key: K, start: () => F): F {
    const running = this.flights.get(key);
    if (running !== undefined) return running;
    const flight = start();
    this.flights.set(key, flight);
    const leave = (): void => {
      if (this.flights.get(key) === flight) this.flights.delete(key);
    };
    this.landed(flight).then(leave, leave);
    return flight;
  }

  get size(): number {
    return this.flights.size;
  }
}

/** The common case: callers share the work's promise. */
export function sharedPromises<K, V>(): SingleFlight<K, Promise<V>> {
  return new SingleFlight<K, Promise<V>>((p) => p);
}
