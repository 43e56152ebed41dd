/**
 * A clock the test moves by hand, for what changes with time alone (cooldowns,
 * exemptions ending, page freshness): pass `clock.now` to the server, then
 * `advance()` instead of sleeping. It starts at the real time, so durations
 * that the CLI counts from the real clock (`--until 1h`) line up with it.
 */
export class TestClock {
  constructor(private ms: number = Date.now()) {}

  readonly now = (): number => this.ms;

  advance(ms: number): void {
    this.ms += ms;
  }

  set(ms: number): void {
    this.ms = ms;
  }
}
