import test from 'ava';
import {
  filterVersions, matchesSpecifier, parseSpecifier, parseSpecifierSet, setImpliesPrereleases, specifierSetToString,
} from '../../src/pypi/specifiers.ts';
import { askPackaging, type SpecifierAnswer } from '../helpers/packaging-oracle.ts';

// --- Unit tests --------------------------------------------------------------------

test('parsing follows packaging: whitespace, empty items, what each operator admits', (t) => {
  t.deepEqual(parseSpecifier(' >= 1.0 '), { operator: '>=', version: '1.0' });
  t.deepEqual(parseSpecifier('===foo bar'), null);
  t.deepEqual(parseSpecifier('===  anything+goes'), { operator: '===', version: 'anything+goes' });
  t.deepEqual(parseSpecifierSet('>=1,,<2,')?.specifiers.length, 2);
  for (const bad of ['>=1.0+local', '<1.0.*', '==1.0a1.*', '~=1', '=1.0', '>=', '<>1', '~=1.0.*', '==1.0.*+x', 'foo']) {
    t.is(parseSpecifier(bad), null, bad);
  }
  t.is(parseSpecifierSet('>=1.0, foo'), null);
});

test('str() is packaging\'s: sorted, equal duplicates dropped', (t) => {
  t.is(specifierSetToString(parseSpecifierSet(' <2 , >= 1.0 ')!), '<2,>=1.0');
  t.is(specifierSetToString(parseSpecifierSet('>=1.0.0,>=1.0')!), '>=1.0');
  t.is(specifierSetToString(parseSpecifierSet('~=1.0,~=1.0.0')!), '~=1.0,~=1.0.0', '~= keeps trailing zeros: these differ');
});

test('operators: the spec\'s rules for locals, pre- and post-releases', (t) => {
  const yes = (spec: string, v: string): void => void t.true(matchesSpecifier(v, spec, { prereleases: true }), `${v} in ${spec}`);
  const no = (spec: string, v: string): void => void t.false(matchesSpecifier(v, spec, { prereleases: true }), `${v} not in ${spec}`);
  yes('==1.0', '1.0+local'); no('==1.0+local', '1.0'); yes('==1.0', '1.0.0');
  yes('==1.*', '1.0rc1'); yes('==1.0.0.*', '1.0'); no('==1.1.*', '1.10');
  no('<2.0', '2.0a1'); yes('<2.0a2', '2.0a1'); no('<2.0', '2.0.dev0');
  no('>1.0', '1.0.post1'); yes('>1.0.post1', '1.0.post2'); no('>1.0', '1.0+local'); yes('>1.0a1', '1.0a2+local');
  yes('~=2.2', '2.9'); no('~=2.2', '3.0'); no('~=2.2.0', '2.3'); yes('~=2.2.RC1', '2.9'); yes('~=1!2.2', '1!2.5');
  yes('===1.0', '1.0'); no('===1.0', '1.0.0'); yes('===Foo', 'foo');
  yes('>=20230101123456788', '20230101123456789'); no('>20230101123456789', '20230101123456789');
  no('>=1.0', 'not-a-version'); no('!=1.0', 'not-a-version');
});

test('pre-releases: excluded unless asked for or named by the set', (t) => {
  t.false(matchesSpecifier('2.0b1', '>=1.0'));
  t.true(matchesSpecifier('2.0b1', '>=1.0', { prereleases: true }));
  t.true(matchesSpecifier('2.0b1', '>=1.0b1'));
  t.false(matchesSpecifier('2.0b1', '>=1.0b1', { prereleases: false }));
  t.false(matchesSpecifier('2.0b1', '!=1.0b1'), '!= never names one');
  t.true(setImpliesPrereleases(parseSpecifierSet('>=1,<2.0rc1')!));
  t.false(setImpliesPrereleases(parseSpecifierSet('==2.0.*')!));
});

test('filterVersions: pip 23 falls back to pre-releases only for an empty set; packaging 26 for any', (t) => {
  const all = ['1.0', '2.0b1', '1.5'];
  t.deepEqual(filterVersions(all, '>=1.0'), ['1.0', '1.5']);
  t.deepEqual(filterVersions(['2.0b1', '2.0rc1'], ''), ['2.0b1', '2.0rc1']);
  t.deepEqual(filterVersions(['2.0b1', '2.0rc1'], '>=1.0'), []);
  t.deepEqual(filterVersions(['2.0b1', '2.0rc1'], '>=1.0', { fallback: 'any-set' }), ['2.0b1', '2.0rc1']);
  t.deepEqual(filterVersions(all, '>=1.0', { prereleases: true }), all);
  t.deepEqual(filterVersions([{ v: '1.0' }, { v: '2.0b1' }], '>=2.0b1', { key: (x) => x.v }), [{ v: '2.0b1' }]);
});

// --- The oracle -------------------------------------------------------------------

const SETS = [
  '', '>=1.0', '>1.0', '<2.0', '<=2.0', '==1.0', '!=1.0', '==1.0.*', '!=1.0.*', '~=1.0', '~=1.4.5', '==1.0+local',
  '===1.0', '>=1.0,<2.0', '>=1.0,!=1.5.*,<2', '>=2.0a1', '<2.0a1', '>1.0a1', '>1.0.post1', '<1.0.post1',
  '>=1.0.dev0', '==1!1.0', '~=2.2.post3', '~=1.0rc1', '>1.0.dev1', '==1.0.0.0.*', '== 1.0 , >= 0.5',
  '>=1.0,>=1.0.0', '===foo', '~=2.2', '<=1.0', 'v1.0', '>=V1.0', '==1.0-1', '~=2.2.RC1', '~=2.2.c1', '~=2.2.r1',
  // invalid
  '>=', '>=1.0+local', '==1.0.*+local', '~=1', '>=1.0.*', '=1.0', '==1.0a1.*', 'foo', '>= 1.0 2', '<>1.0', '~=1.0.*',
];
const VERSIONS = [
  '0.9', '1.0', '1.0.0', '1.0+local', '1.0+abc.1', '1.0a1', '1.0.dev0', '1.0.post1', '1.0.post1.dev1', '1.0.1',
  '1.1', '1.4.5', '1.4.9', '1.5.0', '1.9.9', '2.0', '2.0a1', '2.0.dev1', '2.0rc1', '2.2.3', '2.2rc1', '2.3',
  '1!1.0', '1!2.0', 'foo', '1.0.post0', '20230101123456789', '1.0a1.post1', '1.0a2', 'FOO', ' 1.0 ',
];

const ODD_COMPATIBLE = 'packaging splits the raw string for ~= and keeps odd spellings of pre/post parts (RC1, c1, r1) as release parts, reading ~=2.2.RC1 as ==2.2.*; the spec normalizes first: >=2.2rc1, ==2.*';
/** Sets on which pydepot answers differently from packaging 26 for some version, and why. */
const FROM_MODERN: Record<string, string> = {
  '~=2.2.RC1': ODD_COMPATIBLE,
  '~=2.2.c1': ODD_COMPATIBLE,
  '~=2.2.r1': ODD_COMPATIBLE,
};

const LEGACY = 'packaging 21.3 accepts any operator (but ~=) followed by anything as a LegacySpecifier; packaging 22+ and pydepot refuse it';
/** The same against pip 23's packaging 21.3. */
const FROM_PIP: Record<string, string> = {
  '>=': LEGACY,
  '>=1.0+local': LEGACY,
  '==1.0.*+local': LEGACY,
  '>=1.0.*': LEGACY,
  '==1.0a1.*': LEGACY,
  '<>1.0': LEGACY,
  '===1.0': '21.3 compares === with the normalized version (" 1.0 " is "1.0"); 26 with the string as given',
  '<2.0a1': 'in 21.3, < and > with a pre-release do not let the set accept pre-releases',
  '>1.0a1': 'in 21.3, > with a pre-release does not accept pre-releases, and excludes every post and local release of the base version 1.0',
  '>1.0.dev1': 'the same: 21.3 excludes 1.0.post0 and 1.0+local from >1.0.dev1 by base version',
  '<1.0.post1': '21.3 excludes every pre-release of the base version 1.0 from <1.0.post1; 26 only those from 1.0.post1.dev0 on',
  '==1.0.0.0.*': '21.3 pads the wildcard and the candidate differently: 1.0.post1 is not in ==1.0.0.0.*',
  ...Object.fromEntries(Object.keys(FROM_MODERN).map((k) => [k, ODD_COMPATIBLE])),
};

const KEYS = ['contains', 'containsPre', 'containsNoPre'] as const;

function mine(set: string, version: string): SpecifierAnswer {
  const parsed = parseSpecifierSet(set);
  if (parsed === null) return { valid: false, error: '' };
  return {
    valid: true,
    str: specifierSetToString(parsed),
    contains: matchesSpecifier(version, parsed),
    containsPre: matchesSpecifier(version, parsed, { prereleases: true }),
    containsNoPre: matchesSpecifier(version, parsed, { prereleases: false }),
  };
}

function diff(a: SpecifierAnswer, b: SpecifierAnswer | undefined): string[] {
  if (b === undefined) return ['missing'];
  if (a.valid !== b.valid) return [`valid ${a.valid} vs ${b.valid}`];
  if (!a.valid || !b.valid) return [];
  const out: string[] = [];
  if (a.str !== b.str) out.push(`str ${a.str} vs ${b.str}`);
  for (const k of KEYS) if (a[k] !== b[k]) out.push(`${k} ${String(a[k])} vs ${String(b[k])}`);
  return out;
}

test('oracle: specifier sets against packaging 26 and pip 23\'s packaging 21.3', async (t) => {
  const cases = SETS.flatMap((set) => VERSIONS.map((version) => ({ set, version })));
  const filters: Array<{ set: string; versions: string[]; prereleases?: boolean }> = [
    ...SETS.slice(0, 26).map((set) => ({ set, versions: VERSIONS.filter((v) => v !== 'foo' && v !== 'FOO') })),
    { set: '>=1.0', versions: ['2.0a1', '2.0rc1'] },
    { set: '', versions: ['2.0a1', '2.0rc1'] },
    { set: '', versions: ['1.0', '2.0a1'] },
    { set: '>=1.0', versions: ['1.0', '2.0a1'], prereleases: true },
    { set: '<2', versions: ['1.0', '2.0a1', '1.5b1'], prereleases: false },
  ];
  const oracle = await askPackaging({ specifiers: cases, filters });
  t.log(`${cases.length} (set, version) pairs × 3 pre-release modes, ${filters.length} filters`);

  const modern = new Map<string, string[]>();
  const pip = new Map<string, string[]>();
  const note = (to: Map<string, string[]>, set: string, what: string): void => {
    to.set(set, [...(to.get(set) ?? []), what]);
  };
  cases.forEach((c, i) => {
    const ours = mine(c.set, c.version);
    for (const d of diff(ours, oracle.modern.specifiers[i])) note(modern, c.set, `${c.version}: ${d}`);
    for (const d of diff(ours, oracle.pip.specifiers[i])) note(pip, c.set, `${c.version}: ${d}`);
  });
  for (const [set, ds] of modern) if (!(set in FROM_MODERN)) t.fail(`against packaging 26, ${set}: ${ds.join('; ')}`);
  for (const [set, ds] of pip) if (!(set in FROM_PIP)) t.fail(`against packaging 21.3, ${set}: ${ds.join('; ')}`);
  t.deepEqual(Object.keys(FROM_MODERN).filter((set) => !modern.has(set)), [], 'stale divergences from packaging 26');
  t.deepEqual(Object.keys(FROM_PIP).filter((set) => !pip.has(set)), [], 'stale divergences from packaging 21.3');
  const count = (m: Map<string, string[]>): number => [...m.values()].reduce((n, ds) => n + ds.length, 0);
  t.log(`${count(modern)} answers differ from packaging 26 (on ${modern.size} listed sets), ${count(pip)} from 21.3 (on ${pip.size} listed sets)`);

  filters.forEach((f, i) => {
    const prereleases = f.prereleases ?? undefined;
    t.deepEqual(filterVersions(f.versions, f.set, { prereleases, fallback: 'any-set' }), oracle.modern.filters[i] as string[],
      `packaging 26: filter(${f.versions.join(' ')}) by '${f.set}'`);
    if (!(f.set in FROM_PIP)) {
      t.deepEqual(filterVersions(f.versions, f.set, { prereleases }), oracle.pip.filters[i] as string[],
        `packaging 21.3: filter(${f.versions.join(' ')}) by '${f.set}'`);
    }
  });
});
