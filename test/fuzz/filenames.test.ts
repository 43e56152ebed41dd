/**
 * Fuzzing src/pypi/filenames.ts: `checkSafeFilename` and `parseDistFilename`
 * either accept (with the documented shape) or throw BadRequest /
 * InvalidDistribution; an accepted name is safe to store and re-renders to
 * itself.
 */
import test from 'ava';
import fc from 'fast-check';
import { BadRequest, InvalidDistribution } from '../../src/errors.ts';
import { checkSafeFilename, fileMatchesRelease, parseDistFilename, type DistFilename } from '../../src/pypi/filenames.ts';
import { filenameSafeName, isValidProjectName, normalizeName } from '../../src/pypi/names.ts';
import { canonicalVersion, isValidVersion, versionsEqual } from '../../src/pypi/versions.ts';
import { anyText, check, nameish, outcome, pep440ish, tagish, tokens, validName, versionish } from './_fuzz.ts';

const PURE = { numRuns: 1000, timeLimitMs: 4000 };
const EXTENSIONS = ['.whl', '.tar.gz', '.zip', '.egg', '.tar.bz2', '.exe', '.WHL', '.tar.gz.whl', '', '.', '.whl\0', '.whl/'];

const cleanTag = fc.constantFrom('py3', 'py2.py3', 'cp311', 'none', 'abi3', 'any', 'manylinux_2_17_x86_64.manylinux2014_x86_64');

/** Nearly right: a wheel or sdist name as a backend writes it, with at most a few parts dropped, repeated or spoiled. */
const nearFilename: fc.Arbitrary<string> = fc
  .record({
    name: fc.oneof(validName, validName.map(filenameSafeName)),
    version: fc.oneof(pep440ish, pep440ish.map((v) => canonicalVersion(v)!)),
    build: fc.option(fc.constantFrom('1', '2b', '0_x', 'b1', ''), { nil: undefined }),
    // Mostly the right shape for the extension (3 tags for a wheel, none for an sdist).
    shape: fc.oneof(
      { weight: 6, arbitrary: fc.tuple(fc.constant('.whl'), fc.array(cleanTag, { minLength: 3, maxLength: 3 })) },
      { weight: 4, arbitrary: fc.tuple(fc.constantFrom('.tar.gz', '.zip'), fc.constant([])) },
      { weight: 2, arbitrary: fc.tuple(fc.constantFrom('.whl', '.tar.gz', '.zip', '.egg', '.tar.bz2', '.WHL', ''), fc.array(cleanTag, { maxLength: 4 })) },
    ),
    spoil: fc.option(fc.tuple(fc.nat(), anyText(3)), { nil: undefined, freq: 3 }),
  })
  .map(({ name, version, build, shape: [ext, tags], spoil }) => {
    const parts = [name, version, ...(build === undefined || ext !== '.whl' ? [] : [build]), ...tags];
    let s = parts.join('-') + ext;
    if (spoil !== undefined) {
      const at = spoil[0] % (s.length + 1);
      s = s.slice(0, at) + spoil[1] + s.slice(at);
    }
    return s;
  });

/** Filename-shaped strings: nearly right ones, dash-separated parts of anything, and arbitrary text. */
const filenameish: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: nearFilename },
  { weight: 2, arbitrary: fc.tuple(fc.array(fc.oneof(nameish, versionish, tagish), { minLength: 1, maxLength: 7 }), fc.constantFrom(...EXTENSIONS))
    .map(([parts, ext]) => parts.join('-') + ext) },
  { weight: 1, arbitrary: fc.tuple(anyText(80), fc.constantFrom(...EXTENSIONS)).map(([s, ext]) => s + ext) },
  { weight: 1, arbitrary: tokens(['a', '-', '_', '.', '1', '0', '..', '/', '\\', 'whl', 'tar', 'gz', 'zip', 'py3', 'none', 'any', '\0', ' ', '\u00e9']) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 200, max: 300 }), fc.constantFrom('a', '\u00e9', '\u{1F40D}')).map(([n, c]) => `${c.repeat(n)}-1.0.tar.gz`) },
);

function checkShape(filename: string, d: DistFilename): void {
  const fail = (why: string): never => {
    throw new Error(`${JSON.stringify(filename)} parsed to ${JSON.stringify(d)}: ${why}`);
  };
  if (d.filename !== filename) fail('filename is not the input');
  if (!isValidProjectName(d.name)) fail('name is not a valid project name');
  if (d.normalizedName !== normalizeName(d.name)) fail('normalizedName is not normalizeName(name)');
  if (!isValidVersion(d.version)) fail('version is not a valid PEP 440 version');
  if (!fileMatchesRelease(d, d.name, d.version)) fail('does not match its own release');
  let rendered: string;
  if (d.kind === 'wheel') {
    if (d.buildTag !== null && !/^[0-9]/.test(d.buildTag)) fail('build tag does not start with a digit');
    const tags = [d.pythonTags, d.abiTags, d.platformTags];
    if (tags.some((ts) => ts.length === 0 || ts.some((x) => x === '' || x.includes('-')))) fail('empty tag or tag with a dash');
    rendered = [d.name, d.version, ...(d.buildTag === null ? [] : [d.buildTag]), ...tags.map((ts) => ts.join('.'))].join('-') + '.whl';
  } else {
    if (d.format !== 'tar.gz' && d.format !== 'zip') fail(`format ${String(d.format)}`);
    rendered = `${d.name}-${d.version}.${d.format}`;
  }
  if (rendered !== filename) fail(`re-renders as ${JSON.stringify(rendered)}`);
}

function checkSafe(filename: string): void {
  if (filename === '' || /[\x00-\x1f\x7f/\\]/.test(filename) || filename.includes('..') || filename.startsWith('.')
    || Buffer.byteLength(filename) > 255) {
    throw new Error(`${JSON.stringify(filename)} passed checkSafeFilename but is not a safe path component`);
  }
}

test('checkSafeFilename accepts only a safe single path component, else throws BadRequest', async (t) => {
  await check(t, fc.property(fc.oneof(filenameish, anyText(300)), (filename) => {
    if (outcome(() => checkSafeFilename(filename), [BadRequest]).ok) checkSafe(filename);
  }), PURE);
});

test('parseDistFilename returns a well-formed, safe, self-rendering DistFilename or throws BadRequest/InvalidDistribution', async (t) => {
  await check(t, fc.property(filenameish, (filename) => {
    const r = outcome(() => parseDistFilename(filename), [BadRequest, InvalidDistribution]);
    if (!r.ok) {
      // Unsafe names are refused as such (BadRequest) before any parsing.
      const safe = outcome(() => checkSafeFilename(filename), [BadRequest]).ok;
      if (safe !== r.error instanceof InvalidDistribution) throw new Error(`${r.error.name} for a name checkSafeFilename calls ${safe ? 'safe' : 'unsafe'}`);
      if (/[\r\n]/.test(r.error.message)) throw new Error('multi-line error message (it becomes a reason phrase)');
      return;
    }
    checkSafe(filename);
    checkShape(filename, r.value);
  }), PURE);
});

// Canonical versions (never a '-') and filename-safe names (no '-' either):
// exactly the names a build backend writes.
const spec = fc.record({
  name: validName,
  version: pep440ish.map((v) => canonicalVersion(v)!),
  build: fc.option(fc.tuple(fc.nat(99), fc.stringMatching(/^[a-z_]{0,4}$/)).map(([n, s]) => `${n}${s}`), { nil: null }),
  tags: fc.tuple(tagish, tagish, tagish).filter((ts) => ts.every((x) => /^[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*$/.test(x))),
  kind: fc.constantFrom('wheel', 'tar.gz', 'zip'),
});

test('a filename built from a valid name and version parses back to the same normalized name and an equal version', async (t) => {
  await check(t, fc.property(spec, ({ name, version, build, tags, kind }) => {
    const stem = `${filenameSafeName(name)}-${version}`;
    const filename = kind === 'wheel' ? `${stem}${build === null ? '' : `-${build}`}-${tags.join('-')}.whl` : `${stem}.${kind}`;
    const r = outcome(() => parseDistFilename(filename), [BadRequest, InvalidDistribution]);
    if (!r.ok) {
      // Only the length limit may refuse such a name.
      if (Buffer.byteLength(filename) > 255 && r.error instanceof BadRequest) return;
      throw new Error(`${JSON.stringify(filename)} refused: ${r.error.message}`);
    }
    checkShape(filename, r.value);
    if (r.value.normalizedName !== normalizeName(name)) throw new Error(`normalized name ${r.value.normalizedName}, expected ${normalizeName(name)}`);
    if (!versionsEqual(r.value.version, version)) throw new Error(`version ${r.value.version}, expected ${version}`);
    if (r.value.kind !== (kind === 'wheel' ? 'wheel' : 'sdist')) throw new Error(`kind ${r.value.kind}`);
  }), PURE);
});
