/**
 * Fuzzing src/pypi/names.ts and src/pypi/versions.ts: total functions (they
 * never throw, whatever the string), with their invariants.
 */
import test from 'ava';
import fc from 'fast-check';
import { filenameSafeName, isValidProjectName, MAX_NAME_LENGTH, normalizeName } from '../../src/pypi/names.ts';
import {
  canonicalVersion, compareVersions, isPrerelease, isValidVersion, sortVersions, versionsEqual,
} from '../../src/pypi/versions.ts';
import { anyText, check, nameish, outcome, pep440ish, tokens, validName, versionish } from './_fuzz.ts';

const PURE = { numRuns: 1000, timeLimitMs: 4000 };

const total = <T>(call: () => T): T => {
  const r = outcome(call, []);
  if (!r.ok) throw r.error;
  return r.value;
};

// --- names ---------------------------------------------------------------------

test('normalizeName is total, idempotent and leaves no separator runs or upper-case ASCII', async (t) => {
  await check(t, fc.property(nameish, (name) => {
    const n = total(() => normalizeName(name));
    if (normalizeName(n) !== n) throw new Error(`not idempotent: ${JSON.stringify(name)} → ${JSON.stringify(n)} → ${JSON.stringify(normalizeName(n))}`);
    if (/[-_.]{2,}|[_.]|[A-Z]/.test(n)) throw new Error(`not normalized: ${JSON.stringify(n)}`);
  }), PURE);
});

test('isValidProjectName is total; a valid name normalizes to a valid PEP 503 name of the same length or shorter', async (t) => {
  await check(t, fc.property(nameish, (name) => {
    if (!total(() => isValidProjectName(name))) return;
    if (name.length > MAX_NAME_LENGTH) throw new Error('longer than MAX_NAME_LENGTH yet valid');
    const n = normalizeName(name);
    if (!/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(n)) throw new Error(`normalized form ${JSON.stringify(n)} is not [a-z0-9] words joined by '-'`);
    if (!isValidProjectName(n) || n.length > name.length) throw new Error(`normalized form ${JSON.stringify(n)} is invalid or longer`);
    const f = filenameSafeName(name);
    if (f !== n.replace(/-/g, '_') || normalizeName(f) !== n) throw new Error(`filenameSafeName ${JSON.stringify(f)} does not round-trip`);
  }), PURE);
});

test('normalizeName: names equal up to case and separator runs normalize equal', async (t) => {
  await check(t, fc.property(validName, fc.array(fc.nat(), { maxLength: 8 }), (name, seps) => {
    // Respell: flip case, and replace each separator by another run of separators.
    let i = 0;
    const respelled = name
      .replace(/[-_.]+/g, () => ['-', '_', '.', '-_.', '__', '.-'][(seps[i++] ?? 0) % 6]!)
      .replace(/[a-z]/gi, (c) => ((seps[i++] ?? 0) % 2 === 0 ? c.toUpperCase() : c.toLowerCase()));
    if (normalizeName(respelled) !== normalizeName(name)) throw new Error(`${name} and ${respelled} normalize apart`);
  }), PURE);
});

// --- versions ------------------------------------------------------------------

test('version functions are total; canonicalVersion is null exactly for invalid versions, else valid, idempotent and equal', async (t) => {
  await check(t, fc.property(versionish, (v) => {
    const valid = total(() => isValidVersion(v));
    const canon = total(() => canonicalVersion(v));
    total(() => isPrerelease(v));
    total(() => compareVersions(v, v));
    if ((canon === null) === valid) throw new Error(`isValidVersion=${valid} but canonicalVersion=${JSON.stringify(canon)}`);
    if (!versionsEqual(v, v)) throw new Error('versionsEqual is not reflexive');
    if (compareVersions(v, v) !== 0) throw new Error('compareVersions(v, v) !== 0');
    if (canon === null) return;
    if (!isValidVersion(canon)) throw new Error(`canonical form ${JSON.stringify(canon)} is invalid`);
    if (canonicalVersion(canon) !== canon) throw new Error(`canonical form ${JSON.stringify(canon)} is not a fixed point`);
    if (!versionsEqual(v, canon) || compareVersions(v, canon) !== 0) throw new Error(`${JSON.stringify(v)} != its canonical ${JSON.stringify(canon)}`);
    if (isPrerelease(v) !== isPrerelease(canon)) throw new Error('isPrerelease changes with the spelling');
    if (/[A-Z\-_]|^v/.test(canon)) throw new Error(`canonical form ${JSON.stringify(canon)} keeps a non-canonical spelling`);
  }), PURE);
});

// Spellings of nearby versions: ties and near-ties are where an order breaks.
const NEAR = [
  '1', '1.0', '1.0.0', 'v1.0', '1.0-0', '1.0.post0', '1.0post', '1.0-r', '1.0.0.dev0', '1.0dev', '1.0a0', '1.0a', '1.0.ALPHA',
  '1.0c1', '1.0rc1', '1.0-preview-1', '1.0+0', '1.0+00', '1.0+a', '1.0+A', '1.0+a.0', '1.0+0.a', '1.0+a-1', '0!1.0', '1!1.0',
  '1.0.post1.dev0', '1.0a1.post1', '1.0a1.dev1', '01.00', '1.0.1', '1.1', '9007199254740993', '9007199254740992', 'not-a-version', '',
];
const nearVersion = fc.constantFrom(...NEAR);

test('compareVersions is a total preorder (antisymmetric, transitive) consistent with versionsEqual and the canonical form', async (t) => {
  const v = fc.oneof({ weight: 3, arbitrary: pep440ish }, { weight: 3, arbitrary: nearVersion }, { weight: 1, arbitrary: versionish });
  await check(t, fc.property(v, v, v, (a, b, c) => {
    const ab = compareVersions(a, b);
    const ba = compareVersions(b, a);
    if (![-1, 0, 1].includes(ab)) throw new Error(`compareVersions returned ${ab}`);
    if (ab !== -ba) throw new Error(`not antisymmetric: cmp(a,b)=${ab}, cmp(b,a)=${ba}`);
    if (isValidVersion(a) && isValidVersion(b)) {
      if ((ab === 0) !== versionsEqual(a, b)) throw new Error(`cmp=${ab} but versionsEqual=${versionsEqual(a, b)}`);
      if (compareVersions(canonicalVersion(a)!, canonicalVersion(b)!) !== ab) throw new Error('order changes under canonicalVersion');
    }
    const [x, y, z] = [a, b, c].sort(compareVersions) as [string, string, string];
    if (compareVersions(x, y) > 0 || compareVersions(y, z) > 0 || compareVersions(x, z) > 0) {
      throw new Error(`not transitive: ${JSON.stringify([x, y, z])}`);
    }
  }), PURE);
});

test('sortVersions is a sorted, duplicate-free permutation of its input set, and idempotent', async (t) => {
  const v = fc.oneof({ weight: 3, arbitrary: pep440ish }, { weight: 3, arbitrary: nearVersion }, { weight: 1, arbitrary: versionish });
  await check(t, fc.property(fc.array(v, { maxLength: 30 }), (vs) => {
    const sorted = total(() => sortVersions(vs));
    const set = new Set(vs);
    if (sorted.length !== set.size || !sorted.every((x) => set.has(x))) throw new Error('not a permutation of the input set');
    for (let i = 1; i < sorted.length; i++) {
      if (compareVersions(sorted[i - 1]!, sorted[i]!) > 0) throw new Error(`out of order at ${i}: ${JSON.stringify(sorted)}`);
    }
    const again = sortVersions([...vs].reverse());
    if (JSON.stringify(again) !== JSON.stringify(sorted)) throw new Error('depends on the input order');
    if (JSON.stringify(sortVersions(sorted)) !== JSON.stringify(sorted)) throw new Error('not idempotent');
  }), PURE);
});

test('no catastrophic backtracking: long near-miss names and versions answer in time', async (t) => {
  // Tens of kB of grammar tokens: a polynomial regex would take seconds here.
  const long = (parts: string[]) => fc.tuple(tokens(parts, 8), fc.integer({ min: 1000, max: 6000 }), tokens(parts, 4))
    .map(([unit, n, tail]) => (unit === '' ? 'a' : unit).repeat(n) + tail);
  const input = fc.oneof(
    long(['1', '.', '0', 'a', '-', '_', 'post', 'dev', '+', 'x', 'rc', '!']),
    long(['a', '-', '_', '.', 'Z', '0']),
  );
  await check(t, fc.property(input, (s) => {
    outcome(() => [isValidVersion(s), canonicalVersion(s), compareVersions(s, `${s}0`), isValidProjectName(s), normalizeName(s)], [], 1500);
    outcome(() => sortVersions([s, `${s}1`, s.slice(1)]), [], 1500);
  }), { numRuns: 60, timeLimitMs: 4000 });
});

test('arbitrary Unicode never reaches a crash in the version code', async (t) => {
  await check(t, fc.property(anyText(200), anyText(200), (a, b) => {
    total(() => [isValidVersion(a), canonicalVersion(a), versionsEqual(a, b), compareVersions(a, b), isPrerelease(a), sortVersions([a, b])]);
  }), { numRuns: 1000, timeLimitMs: 3000 });
});
