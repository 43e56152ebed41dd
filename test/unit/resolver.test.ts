/**
 * The resolver's search and pip's candidate rules, on an in-memory index and
 * a small kit (specifiers with the operators these cases need; markers as
 * `extra == "x"` only). The real kit (PEP 440 specifiers, PEP 508 markers,
 * packaging's tags) is checked against pip itself elsewhere.
 */
import test from 'ava';
import { filePath, type IndexFile, type ProjectPage } from '../../src/pypi/pages.ts';
import { compareVersions, isPrerelease } from '../../src/pypi/versions.ts';
import { resolve, ResolutionImpossible, type Requirement, type ResolverKit, type ResolverSource, type Target } from '../../src/resolve/resolver.ts';
import { PIP_RULES } from '../../src/resolve/kit.ts';
import { parseTargetShorthand } from '../../src/resolve/tags.ts';

const TARGET: Target = parseTargetShorthand('cp311-manylinux_2_17_x86_64');

function contains(spec: string, version: string, pre: boolean): boolean {
  if (!pre && isPrerelease(version)) return false;
  return spec.split(',').map((s) => s.trim()).filter(Boolean).every((s) => {
    const m = /^(===|==|!=|>=|<=|>|<)\s*(.+)$/.exec(s);
    if (!m) throw new Error(`bad specifier ${s}`);
    const c = compareVersions(version, m[2]!);
    switch (m[1]) {
      case '==': case '===': return c === 0;
      case '!=': return c !== 0;
      case '>=': return c >= 0;
      case '<=': return c <= 0;
      case '>': return c > 0;
      default: return c < 0;
    }
  });
}

function parseRequirement(text: string, origin: string): Requirement {
  const [req = '', marker] = text.split(';').map((s) => s.trim());
  const m = /^([A-Za-z0-9._-]+)(?:\[([^\]]*)\])?\s*(.*)$/.exec(req)!;
  const extra = marker ? /extra\s*==\s*"([^"]+)"/.exec(marker)?.[1] : undefined;
  return {
    name: m[1]!.toLowerCase(), extras: m[2] ? m[2].split(',').map((e) => e.trim()) : [], specifier: m[3]!.replace(/\s+/g, ''),
    applies: extra === undefined ? null : (_env, extras) => extras.has(extra), origin,
  };
}

const KIT: ResolverKit = { contains, allowsPrereleases: (s) => /\d(a|b|rc)\d/.test(s), parseRequirement };

interface FileSpec {
  v: string; deps?: string[]; tag?: string; sdist?: boolean; yanked?: boolean; python?: string;
  /** Provides-Extra. */
  extras?: string[];
  /** Requires-Python in the metadata only, not on the page. */
  metaPython?: string;
}

function index(projects: Record<string, FileSpec[]>): ResolverSource & { asked: string[] } {
  const asked: string[] = [];
  const pages = new Map<string, ProjectPage>();
  const meta = new Map<string, FileSpec>();
  for (const [name, specs] of Object.entries(projects)) {
    const files: IndexFile[] = specs.map((s, i) => {
      const filename = s.sdist ? `${name.replace(/-/g, '_')}-${s.v}.tar.gz` : `${name.replace(/-/g, '_')}-${s.v}-${s.tag ?? 'py3-none-any'}.whl`;
      const sha256 = (i.toString(16) + name).padEnd(64, '0').slice(0, 64).replace(/[^0-9a-f]/g, 'a');
      meta.set(filename, s);
      return { filename, path: filePath(sha256, filename), sha256, size: 1, requiresPython: s.python ?? null, uploadTime: null, yanked: s.yanked ? 'bad' : false, metadataSha256: null };
    });
    pages.set(name, { name, displayName: name, files, versions: [] });
  }
  return {
    asked,
    page: async (p) => { asked.push(p); return pages.get(p) ?? null; },
    metadata: async (_p, f) => {
      const s = meta.get(f.filename)!;
      return { requiresDist: s.deps ?? [], requiresPython: s.metaPython ?? f.requiresPython, providesExtra: s.extras ?? [] };
    },
  };
}

const req = (text: string) => parseRequirement(text, 'requirements.txt:1');
const versions = (pins: { name: string; version: string }[]) => Object.fromEntries(pins.map((p) => [p.name, p.version]));

test('highest versions that satisfy every requirement, dependencies from metadata', async (t) => {
  const src = index({
    app: [{ v: '1.0', deps: ['core>=1.0', 'utils'] }],
    core: [{ v: '0.9' }, { v: '1.0' }, { v: '1.1' }],
    utils: [{ v: '2.0', deps: ['core<1.1'] }],
  });
  t.deepEqual(versions(await resolve([req('app')], TARGET, src, KIT)), { app: '1.0', core: '1.0', utils: '2.0' });
});

test('a conflict backtracks to an older candidate', async (t) => {
  const src = index({
    app: [{ v: '1.0', deps: ['left', 'right'] }],
    left: [{ v: '1.0', deps: ['shared==1.0'] }, { v: '2.0', deps: ['shared==2.0'] }],
    right: [{ v: '1.0', deps: ['shared<2'] }],
    shared: [{ v: '1.0' }, { v: '2.0' }],
  });
  t.deepEqual(versions(await resolve([req('app')], TARGET, src, KIT)), { app: '1.0', left: '1.0', right: '1.0', shared: '1.0' });
});

test('pre-releases only when named by a specifier, asked for, or nothing final matches', async (t) => {
  const src = index({ a: [{ v: '1.0' }, { v: '2.0b1' }], b: [{ v: '3.0rc1' }] });
  t.deepEqual(versions(await resolve([req('a'), req('b')], TARGET, src, KIT)), { a: '1.0', b: '3.0rc1' });
  t.deepEqual(versions(await resolve([req('a>=2.0b1')], TARGET, src, KIT)), { a: '2.0b1' });
  t.deepEqual(versions(await resolve([req('a')], TARGET, src, KIT, { pre: true })), { a: '2.0b1' });
});

test('yanked files only for an == pin with nothing else left', async (t) => {
  const src = index({ a: [{ v: '1.0' }, { v: '2.0', yanked: true }] });
  t.deepEqual(versions(await resolve([req('a')], TARGET, src, KIT)), { a: '1.0' });
  t.deepEqual(versions(await resolve([req('a==2.0')], TARGET, src, KIT)), { a: '2.0' });
  await t.throwsAsync(resolve([req('a>=2.0')], TARGET, src, KIT), { instanceOf: ResolutionImpossible, message: /a 2\.0 is yanked/ });
});

test('Requires-Python is judged for the target, not this machine', async (t) => {
  const src = index({ a: [{ v: '1.0' }, { v: '2.0', python: '>=3.12' }] });
  t.deepEqual(versions(await resolve([req('a')], TARGET, src, KIT)), { a: '1.0' });
  const py312 = parseTargetShorthand('cp312-manylinux_2_17_x86_64');
  t.deepEqual(versions(await resolve([req('a')], py312, src, KIT)), { a: '2.0' });
});

test("the target's best wheel by tag order; build tags break ties; sdists only when allowed", async (t) => {
  const src = index({
    np: [
      { v: '1.0', tag: 'py3-none-any' }, { v: '1.0', tag: 'cp311-cp311-manylinux_2_17_x86_64' },
      { v: '1.0', tag: '2-cp311-cp311-manylinux_2_17_x86_64' },
      { v: '1.0', tag: 'cp311-cp311-win_amd64' },
      { v: '2.0', tag: 'cp312-cp312-manylinux_2_17_x86_64' }, { v: '2.0', sdist: true },
    ],
  });
  const pins = await resolve([req('np')], TARGET, src, KIT);
  t.is(pins[0]!.version, '1.0');
  t.is(pins[0]!.file.filename, 'np-1.0-2-cp311-cp311-manylinux_2_17_x86_64.whl');
  const withSdist = await resolve([req('np')], TARGET, src, KIT, { allowSdist: true });
  t.is(withSdist[0]!.file.filename, 'np-2.0.tar.gz');
  await t.throwsAsync(resolve([req('np>=2')], TARGET, src, KIT), {
    instanceOf: ResolutionImpossible,
    message: /np 2\.0 has no wheel for cp311-manylinux_2_17_x86_64 \(sdist only; --allow-sdist, or build one into the wheel cache\)/,
  });
});

test('extras bring their dependencies, also when asked after the project was chosen', async (t) => {
  const src = index({
    app: [{ v: '1.0', deps: ['lib', 'plugin'] }],
    plugin: [{ v: '1.0', deps: ['lib[fast]'] }],
    lib: [{ v: '1.0', deps: ['speedups; extra == "fast"'], extras: ['fast'] }],
    speedups: [{ v: '3.0' }],
  });
  t.deepEqual(versions(await resolve([req('app')], TARGET, src, KIT)), { app: '1.0', lib: '1.0', plugin: '1.0', speedups: '3.0' });
  t.deepEqual(versions(await resolve([req('lib')], TARGET, src, KIT)), { lib: '1.0' });
});

test('an impossible set names the project, what was asked, and by whom', async (t) => {
  const src = index({ app: [{ v: '1.0', deps: ['core>=5'] }], core: [{ v: '1.0' }, { v: '2.0' }] });
  const err = await t.throwsAsync(resolve([req('app')], TARGET, src, KIT), { instanceOf: ResolutionImpossible });
  t.regex(err!.message, /core>=5 \(required by app 1\.0\): no version matches \(available: 2\.0, 1\.0\)/);
  await t.throwsAsync(resolve([req('nothing-here')], TARGET, src, KIT), { message: /nothing-here \(required by requirements\.txt:1\): no such project/ });
});

// --- Rules found by comparing with pip (test/e2e/resolve-oracle.test.ts) -------------------

test("only the extras a file provides count (pip ignores the others), and an extra may ask for the project's own extras", async (t) => {
  const src = index({
    undeclared: [{ v: '1.0', deps: ['ghost; extra == "ghost"'] }],
    ghost: [{ v: '1.0' }],
    meta: [{ v: '1.0', extras: ['a', 'b', 'all'], deps: ['meta[a,b]; extra == "all"', 'left; extra == "a"', 'right; extra == "b"'] }],
    left: [{ v: '1.0' }],
    right: [{ v: '1.0' }],
  });
  const pins = await resolve([req('undeclared[ghost]'), req('meta[all]')], TARGET, src, KIT);
  t.deepEqual(versions(pins), { undeclared: '1.0', meta: '1.0', left: '1.0', right: '1.0' });
  t.deepEqual(pins.find((p) => p.name === 'undeclared')!.extras, []);
  t.deepEqual(pins.find((p) => p.name === 'meta')!.extras, ['a', 'all', 'b']);
  // The same through a dependency that asks for the extra after the project was chosen.
  const late = index({
    app: [{ v: '1.0', deps: ['meta', 'plugin'] }],
    plugin: [{ v: '1.0', deps: ['meta[all]'] }],
    meta: [{ v: '1.0', extras: ['a', 'all'], deps: ['meta[a]; extra == "all"', 'left; extra == "a"'] }],
    left: [{ v: '1.0' }],
  });
  t.deepEqual(versions(await resolve([req('app')], TARGET, late, KIT)), { app: '1.0', plugin: '1.0', meta: '1.0', left: '1.0' });
});

test('the pre-release fallback looks only at versions the target can install, as pip filters after its finder', async (t) => {
  const src = index({ a: [{ v: '1.0', tag: 'cp311-cp311-win_amd64' }, { v: '1.1', python: '>=3.12' }, { v: '2.0b1' }] });
  t.deepEqual(versions(await resolve([req('a')], TARGET, src, KIT)), { a: '2.0b1' });
  // A final release the target can install still wins.
  const final = index({ a: [{ v: '1.0' }, { v: '1.1', python: '>=3.12' }, { v: '2.0b1' }] });
  t.deepEqual(versions(await resolve([req('a')], TARGET, final, KIT)), { a: '1.0' });
});

test('a yanked file counts only when every file found, over all allowed versions, is yanked (pip: ==2.0 skips a yanked 2.0+cpu)', async (t) => {
  const src = index({ lv: [{ v: '1.0' }, { v: '2.0' }, { v: '2.0+cpu', yanked: true }] });
  const real = { ...KIT, contains: PIP_RULES.contains };
  t.deepEqual(versions(await resolve([req('lv==2.0')], TARGET, src, real)), { lv: '2.0' });
  const allYanked = index({ lv: [{ v: '1.0' }, { v: '2.0', yanked: true }, { v: '2.0+cpu', yanked: true }] });
  t.deepEqual(versions(await resolve([req('lv==2.0')], TARGET, allYanked, real)), { lv: '2.0+cpu' });
});

test('the files of 1.0 and 1.0.0 compete as one version: the best tag wins', async (t) => {
  const src = index({ nv: [{ v: '1.0' }, { v: '1.0.0', tag: 'cp311-cp311-manylinux_2_17_x86_64' }, { v: '0.9' }] });
  const pins = await resolve([req('nv')], TARGET, src, KIT);
  t.is(pins[0]!.file.filename, 'nv-1.0.0-cp311-cp311-manylinux_2_17_x86_64.whl');
  t.is(pins[0]!.version, '1.0.0');
});

test("pip's preference decides between two fitting answers: a narrowed project before a free one, then by name", async (t) => {
  const src = index({
    root: [{ v: '1.0', deps: ['zz', 'aa>=1'] }],
    zz: [{ v: '1.0', deps: ['aa'] }, { v: '2.0', deps: ['aa==1.0'] }],
    aa: [{ v: '1.0', deps: ['zz'] }, { v: '2.0', deps: ['zz==1.0'] }],
    root2: [{ v: '1.0', deps: ['b', 'a'] }],
    b: [{ v: '1.0', deps: ['a'] }, { v: '2.0', deps: ['a==1.0'] }],
    a: [{ v: '1.0', deps: ['b'] }, { v: '2.0', deps: ['b==1.0'] }],
  });
  t.deepEqual(versions(await resolve([req('root')], TARGET, src, KIT)), { root: '1.0', aa: '2.0', zz: '1.0' });
  t.deepEqual(versions(await resolve([req('root2')], TARGET, src, KIT)), { root2: '1.0', a: '2.0', b: '1.0' });
  // The user's order still comes first among requirements of the same depth.
  t.deepEqual(versions(await resolve([req('b'), req('a')], TARGET, src, KIT)), { a: '1.0', b: '2.0' });
});

test('Requires-Python in the metadata only (a page without it) rules the file out, as pip does', async (t) => {
  const src = index({ a: [{ v: '1.0' }, { v: '2.0', metaPython: '>=3.12' }] });
  t.deepEqual(versions(await resolve([req('a')], TARGET, src, KIT)), { a: '1.0' });
  const onlyNew = index({ a: [{ v: '2.0', metaPython: '>=3.12' }] });
  await t.throwsAsync(resolve([req('a')], TARGET, onlyNew, KIT), { instanceOf: ResolutionImpossible, message: /a 2\.0 requires Python >=3\.12 \(cp311-manylinux_2_17_x86_64 has 3\.11/ });
});

test('an impossible set says who asked for what, as pip does ("The conflict is caused by")', async (t) => {
  const src = index({ tool: [{ v: '1.0', deps: ['codec<2'] }], codec: [{ v: '1.0' }, { v: '2.0' }] });
  const err = await t.throwsAsync(resolve([req('tool'), req('codec>=2')], TARGET, src, KIT, { constraints: [parseRequirement('codec!=1.0', 'constraints.txt:1')] }), { instanceOf: ResolutionImpossible });
  t.regex(err!.message, /codec>=2 \(required by requirements\.txt:1\) and codec<2 \(required by tool 1\.0\) and codec!=1\.0 \(constrained by constraints\.txt:1\): no version matches \(available: 2\.0, 1\.0\)/);
});
