/**
 * Fuzzing src/pypi/core-metadata.ts: any text either parses to a CoreMetadata
 * of the documented shape or throws InvalidDistribution; well-formed metadata
 * round-trips its fields.
 */
import test from 'ava';
import fc from 'fast-check';
import { InvalidDistribution } from '../../src/errors.ts';
import { parseCoreMetadata, type CoreMetadata } from '../../src/pypi/core-metadata.ts';
import { isValidProjectName } from '../../src/pypi/names.ts';
import { anyText, check, nameish, outcome, validName, versionish } from './_fuzz.ts';

const PURE = { numRuns: 800, timeLimitMs: 4000 };

const HEADER_NAMES = [
  'Metadata-Version', 'Name', 'Version', 'Summary', 'Description', 'Description-Content-Type', 'Requires-Dist',
  'Requires-Python', 'Provides-Extra', 'Classifier', 'Project-URL', 'Dynamic', 'Platform', 'License', 'Keywords',
  'name', 'NAME', 'metadata-version', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'X-Weird!#$',
];

const headerName = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...HEADER_NAMES) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 12 }) },
);

const headerValue = fc.oneof(
  nameish, versionish, fc.constantFrom('1.0', '2.1', '2.4', '3.0', '1', '2', '2.x', ' 2.1 ', '02.1', ''), anyText(40),
);

const SEPARATORS = ['\n', '\r\n', '\r'];

/** Header-shaped lines: fields, continuations, blank lines and junk, joined by any line ending, with or without a BOM. */
const metadataText = fc
  .record({
    bom: fc.boolean(),
    sep: fc.constantFrom(...SEPARATORS),
    // Half the time the three required fields come first, so the rest of the text is what decides.
    required: fc.option(fc.tuple(fc.constantFrom('1.0', '2.1', '2.4'), validName, versionish), { nil: undefined }),
    lines: fc.array(fc.oneof(
      { weight: 6, arbitrary: fc.tuple(headerName, fc.constantFrom(':', ': ', ':\t', ' :'), headerValue).map(([k, c, v]) => `${k}${c}${v}`) },
      { weight: 2, arbitrary: fc.tuple(fc.constantFrom(' ', '\t', '  '), headerValue).map(([i, v]) => i + v) },
      { weight: 1, arbitrary: fc.constant('') },
      { weight: 1, arbitrary: anyText(30) },
    ), { maxLength: 14 }),
    body: fc.option(anyText(60), { nil: undefined }),
  })
  .map(({ bom, sep, required, lines, body }) => {
    const all = required === undefined ? lines : [`Metadata-Version: ${required[0]}`, `Name: ${required[1]}`, `Version: ${required[2]}`, ...lines];
    return (bom ? '\uFEFF' : '') + all.join(sep) + (body === undefined ? '' : `${sep}${sep}${body}`);
  });

function checkShape(text: string, m: CoreMetadata): void {
  const fail = (why: string): never => {
    throw new Error(`${JSON.stringify(text)} → ${why}`);
  };
  if (!/^[12](?:\.[0-9]+)*$/.test(m.metadataVersion)) fail(`Metadata-Version ${JSON.stringify(m.metadataVersion)}`);
  if (!isValidProjectName(m.name)) fail(`invalid Name ${JSON.stringify(m.name)}`);
  if (m.version === '' || m.version !== m.version.trim()) fail(`Version ${JSON.stringify(m.version)}`);
  for (const key of ['metadata-version', 'name', 'version']) {
    if (m.fields[key]?.length !== 1) fail(`${key} appears ${m.fields[key]?.length ?? 0} times`);
  }
  if (Object.getPrototypeOf(m.fields) !== null) fail('fields has a prototype');
  for (const [k, vs] of Object.entries(m.fields)) {
    if (k !== k.toLowerCase() || !Array.isArray(vs) || vs.some((v) => typeof v !== 'string')) fail(`field ${JSON.stringify(k)}`);
  }
  const optional = ['summary', 'requiresPython', 'author', 'authorEmail', 'maintainer', 'maintainerEmail', 'license',
    'licenseExpression', 'homePage', 'downloadUrl', 'keywords', 'descriptionContentType'] as const;
  for (const k of optional) {
    const v = m[k];
    if (v !== null && (typeof v !== 'string' || v === '' || v !== v.trim())) fail(`${k} = ${JSON.stringify(v)}`);
  }
  const lists = ['requiresDist', 'providesExtra', 'classifiers', 'projectUrls', 'platforms', 'dynamic'] as const;
  for (const k of lists) {
    if (!Array.isArray(m[k]) || m[k].some((v) => typeof v !== 'string' || v === '' || v !== v.trim())) fail(`${k} = ${JSON.stringify(m[k])}`);
  }
  if (m.description !== null && (typeof m.description !== 'string' || m.description === '')) fail(`description ${JSON.stringify(m.description)}`);
}

test('parseCoreMetadata returns the documented shape or throws InvalidDistribution, for header-shaped text', async (t) => {
  await check(t, fc.property(metadataText, (text) => {
    const r = outcome(() => parseCoreMetadata(text), [InvalidDistribution]);
    if (r.ok) checkShape(text, r.value);
    else if (/[\r\n]/.test(r.error.message)) throw new Error(`multi-line error message: ${JSON.stringify(r.error.message)}`);
  }), PURE);
});

test('parseCoreMetadata never crashes on arbitrary text', async (t) => {
  await check(t, fc.property(anyText(400), (text) => {
    const r = outcome(() => parseCoreMetadata(text), [InvalidDistribution]);
    if (r.ok) checkShape(text, r.value);
  }), PURE);
});

/** One-line printable values without surrounding blanks, as a build backend writes them. */
const lineValue = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 })
  .map((s) => s.replace(/[\r\n\u0085\u2028\u2029\v\f]/g, ' ').trim())
  .filter((s) => s !== '');

test('well-formed metadata round-trips Name, Version, Summary, Requires-Dist and the body', async (t) => {
  const doc = fc.record({
    name: validName,
    version: versionish.map((v) => v.replace(/[\r\n\u0085\u2028\u2029\v\f]/g, ' ').trim()).filter((v) => v !== ''),
    mv: fc.constantFrom('1.0', '1.2', '2.1', '2.4'),
    summary: fc.option(lineValue, { nil: undefined }),
    requires: fc.array(lineValue, { maxLength: 4 }),
    body: fc.option(fc.string({ unit: 'grapheme', maxLength: 80 }).map((s) => s.replace(/\r/g, '')), { nil: undefined }),
    sep: fc.constantFrom(...SEPARATORS),
  });
  await check(t, fc.property(doc, (d) => {
    const lines = [`Metadata-Version: ${d.mv}`, `Name: ${d.name}`, `Version: ${d.version}`];
    if (d.summary !== undefined) lines.push(`Summary: ${d.summary}`);
    for (const r of d.requires) lines.push(`Requires-Dist: ${r}`);
    const text = lines.join(d.sep) + d.sep + (d.body === undefined ? '' : d.sep + d.body);
    const r = outcome(() => parseCoreMetadata(text), [InvalidDistribution]);
    if (!r.ok) throw new Error(`${JSON.stringify(text)} refused: ${r.error.message}`);
    const m = r.value;
    checkShape(text, m);
    const expect = (what: string, got: unknown, want: unknown) => {
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)} in ${JSON.stringify(text)}`);
    };
    expect('name', m.name, d.name);
    expect('version', m.version, d.version);
    expect('metadataVersion', m.metadataVersion, d.mv);
    expect('summary', m.summary, d.summary ?? null);
    expect('requiresDist', m.requiresDist, d.requires);
    expect('description', m.description, d.body !== undefined && d.body.trim() !== '' ? d.body : null);
  }), PURE);
});
