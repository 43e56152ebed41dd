/**
 * Shared settings and checks of the fuzz suite (test/fuzz/*.test.ts).
 *
 * Every property runs from one fixed seed, so a run is reproducible; fast-check
 * prints the seed and the counterexample's path when a property fails.
 * `FUZZ_SEED=<n> npx ava test/fuzz` replays with another seed (or the one a
 * failure printed); `FUZZ_SCALE=<k>` multiplies every property's runs and time
 * budget, for a longer session by hand. Each property is bounded twice: by its
 * number of runs and by a wall-clock budget after which fast-check stops
 * generating (a success so far counts as a success), so the whole suite stays
 * near a minute on a busy 2-core machine.
 *
 * Not a test file itself (ava only picks `*.test.ts`).
 */
import fc from 'fast-check';
import type { ExecutionContext } from 'ava';

/** The fixed seed: change it only on purpose (a new seed explores new inputs, and may find new failures). */
export const DEFAULT_SEED = 0x5eed_0427;

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${name}=${JSON.stringify(raw)} is not a number`);
  return n;
}

export const SEED = Math.trunc(envNumber('FUZZ_SEED', DEFAULT_SEED)) | 0;
export const SCALE = Math.max(envNumber('FUZZ_SCALE', 1), 0.01);

export interface Budget {
  /** Runs before the property counts as holding. */
  numRuns: number;
  /** Wall-clock budget of the property, generation and shrinking included. */
  timeLimitMs: number;
  /** Async properties: a single run that takes longer fails (a hang). */
  runTimeoutMs?: number;
}

/** fast-check parameters for one property: the seed, its run count and its time bounds; `examples` run first. */
export function params<T>(budget: Budget, examples: T[] = []): fc.Parameters<T> {
  const plugins = [fc.interruptAfterTimeLimit(Math.round(budget.timeLimitMs * SCALE))];
  if (budget.runTimeoutMs !== undefined) plugins.push(fc.timeout(budget.runTimeoutMs));
  return { seed: SEED, numRuns: Math.max(1, Math.round(budget.numRuns * SCALE)), plugins, examples };
}

/** Runs a property (known counterexamples first); on failure the message names the seed and how to replay it. */
export async function check<T>(t: ExecutionContext, property: fc.IRawProperty<T>, budget: Budget, examples: T[] = []): Promise<void> {
  const details = await fc.check(property, params<T>(budget, examples));
  if (details.failed) {
    const report = fc.defaultReportMessage(details) ?? `property failed (seed ${SEED})`;
    const error = details.errorInstance;
    const why = error instanceof Error ? `${error.message}${error.cause instanceof Error ? `\n${error.cause.stack ?? ''}` : ''}` : String(error);
    t.fail(`${report}\n${report.includes(why) ? '' : `Got error: ${why}\n`}Replay: FUZZ_SEED=${SEED} npx ava test/fuzz (path ${details.counterexamplePath ?? '?'})`);
    return;
  }
  t.log(`seed ${SEED}: ${details.numRuns} runs${details.interrupted ? ', stopped by its time budget' : ''}`);
  t.pass();
}

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * A call that must finish within `budgetMs` either with a value or with one
 * of the `allowed` error classes. Anything else (TypeError, RangeError, an
 * untyped Error) is rethrown with its stack, which fails the property.
 * Synchronous code cannot be interrupted in-process: a call that runs too
 * long is reported once it returns (an endless loop is left to ava's timeout).
 */
export function outcome<T>(
  call: () => T,
  allowed: readonly ErrorClass[],
  budgetMs = CALL_BUDGET_MS,
): { ok: true; value: T } | { ok: false; error: Error } {
  const start = performance.now();
  let result: { ok: true; value: T } | { ok: false; error: Error };
  try {
    result = { ok: true, value: call() };
  } catch (err) {
    if (!allowed.some((cls) => err instanceof cls)) {
      throw new Error(`unexpected ${describeError(err)}`, { cause: err });
    }
    result = { ok: false, error: err as Error };
  }
  const elapsed = performance.now() - start;
  if (elapsed > budgetMs) throw new Error(`call took ${Math.round(elapsed)} ms (budget ${budgetMs} ms)`);
  return result;
}

/** The async counterpart of {@link outcome}: the error type is checked; the time bound is fast-check's `runTimeoutMs`. */
export async function outcomeAsync<T>(
  call: () => Promise<T>,
  allowed: readonly ErrorClass[],
): Promise<{ ok: true; value: T } | { ok: false; error: Error }> {
  try {
    return { ok: true, value: await call() };
  } catch (err) {
    if (!allowed.some((cls) => err instanceof cls)) {
      throw new Error(`unexpected ${describeError(err)}`, { cause: err });
    }
    return { ok: false, error: err as Error };
  }
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.constructor.name}: ${err.message}\n${err.stack ?? ''}`;
  return `non-Error throw: ${String(err)}`;
}

/**
 * A pure parser given a few kB must answer in milliseconds; this leaves room
 * for GC pauses on a loaded machine while still catching exponential
 * backtracking (seconds, or never).
 */
export const CALL_BUDGET_MS = 1500;

// ---------------------------------------------------------------------------
// Shared arbitraries

/** Lone surrogates: valid in a JS string, invalid in UTF-8, a classic crash source. */
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

/** Characters that tend to break text parsers. */
const NASTY_CHARS = [
  '\0', '\x01', '\x1f', '\x7f', '\t', '\n', '\r', '\r\n', '\v', '\f', ' ', '\u00a0', '\u0085', '\u2028', '\u2029',
  '\uFEFF', '\uFFFD', '\uFFFF', '\u0130', '\u017f', '\u212a', '\u0661', '\u{1F40D}', '"', "'", '`', '<', '>', '&', '%',
  '%00', '%2F', '%zz', '/', '\\', '..', '.', '-', '_', '+', '!', '#', '?', '=', ':', ';', ',', '*', '{', '}', '[', ']',
  '__proto__', 'constructor', 'toString', 'NaN', 'Infinity', '-0', '1e308', '9007199254740993',
];

/** Arbitrary text: any code point, control characters, lone surrogates, and tokens that break parsers. */
export function anyText(maxLength = 64): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: 'binary-ascii', maxLength }),
    fc.string({ unit: fc.oneof(fc.constantFrom(...NASTY_CHARS), loneSurrogate, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength }),
  );
}

/** Text built from a grammar's tokens: reaches deeper than random characters. */
export function tokens(parts: readonly string[], maxLength = 24): fc.Arbitrary<string> {
  return fc.array(fc.constantFrom(...parts), { maxLength }).map((xs) => xs.join(''));
}

/** Valid-looking PEP 440 versions (with every spelling variant), for deep coverage of the version code. */
export const pep440ish: fc.Arbitrary<string> = fc
  .record({
    v: fc.constantFrom('', 'v', 'V'),
    epoch: fc.option(fc.oneof(fc.nat(5), fc.bigInt({ min: 0n, max: 10n ** 30n })), { nil: undefined }),
    release: fc.array(fc.oneof(fc.nat(20), fc.bigInt({ min: 0n, max: 10n ** 25n }), fc.constant('00')), { minLength: 1, maxLength: 5 }),
    pre: fc.option(fc.tuple(fc.constantFrom('', '.', '-', '_'), fc.constantFrom('a', 'b', 'c', 'rc', 'alpha', 'beta', 'pre', 'preview', 'RC', 'Alpha'),
      fc.constantFrom('', '.', '-', '_'), fc.option(fc.nat(30), { nil: undefined })), { nil: undefined }),
    post: fc.option(fc.oneof(
      fc.tuple(fc.constant('-'), fc.constant(''), fc.constant(''), fc.nat(30).map(String)),
      fc.tuple(fc.constantFrom('', '.', '-', '_'), fc.constantFrom('post', 'rev', 'r', 'POST'), fc.constantFrom('', '.', '-', '_'), fc.option(fc.nat(30).map(String), { nil: '' })),
    ), { nil: undefined }),
    dev: fc.option(fc.tuple(fc.constantFrom('', '.', '-', '_'), fc.constantFrom('dev', 'DEV'), fc.constantFrom('', '.', '-', '_'), fc.option(fc.nat(30), { nil: undefined })), { nil: undefined }),
    local: fc.option(fc.array(fc.oneof(fc.stringMatching(/^[a-zA-Z0-9]{1,6}$/), fc.nat(99).map(String), fc.constant('007')), { minLength: 1, maxLength: 4 }), { nil: undefined }),
    localSep: fc.constantFrom('.', '-', '_'),
  })
  .map((p) => {
    let s = p.v;
    if (p.epoch !== undefined) s += `${p.epoch}!`;
    s += p.release.join('.');
    if (p.pre) s += `${p.pre[0]}${p.pre[1]}${p.pre[2]}${p.pre[3] ?? ''}`;
    if (p.post) s += `${p.post[0]}${p.post[1]}${p.post[2]}${p.post[3]}`;
    if (p.dev) s += `${p.dev[0]}${p.dev[1]}${p.dev[2]}${p.dev[3] ?? ''}`;
    if (p.local) s += `+${p.local.join(p.localSep)}`;
    return s;
  });

const VERSION_TOKENS = [
  '0', '1', '2', '9', '00', '10', '99999999999999999999', '.', '..', '!', '+', '-', '_', 'a', 'b', 'c', 'rc', 'alpha', 'beta',
  'pre', 'preview', 'post', 'rev', 'r', 'dev', 'v', 'V', 'RC', 'Post', 'e', 'x', '*', ' ', '\n', '\u0661', '\u017f',
];

/** Any string a version field might hold: valid spellings, near misses, garbage. */
export const versionish: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: pep440ish },
  { weight: 2, arbitrary: tokens(VERSION_TOKENS) },
  { weight: 1, arbitrary: anyText(24) },
);

/** Valid core-metadata names (PEP 508 `Name`), in every spelling: case, runs of separators. */
export const validName: fc.Arbitrary<string> = fc
  .tuple(
    fc.stringMatching(/^[A-Za-z0-9]$/),
    fc.array(fc.tuple(fc.stringMatching(/^[-_.]{0,3}$/), fc.stringMatching(/^[A-Za-z0-9]{1,8}$/)), { maxLength: 5 }),
  )
  .map(([first, rest]) => first + rest.map(([sep, word]) => sep + word).join(''));

const NAME_TOKENS = ['a', 'Z', '0', '9', '-', '_', '.', '--', '__', '..', ' ', '\t', '\n', '\u017f', '\u212a', '\u0130', '/', '\\', '\0', '\x7f', 'é'];

/** Any string a project-name field might hold. */
export const nameish: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: validName },
  { weight: 2, arbitrary: tokens(NAME_TOKENS) },
  { weight: 1, arbitrary: anyText(24) },
  { weight: 1, arbitrary: fc.nat(260).map((n) => 'a'.repeat(n)) },
);

/** Compatibility tags (PEP 425), compressed sets and garbage. */
export const tagish: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('py3', 'py2.py3', 'cp311', 'none', 'abi3', 'any', 'manylinux_2_17_x86_64.manylinux2014_x86_64', 'win_amd64'),
  tokens(['py', '3', '.', '_', 'cp', 'x86', '', '-', ' ', '/']),
);
