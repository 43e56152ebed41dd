/**
 * The `files` filter of a remote or virtual repository: which distribution
 * files a cluster can use, judged from the file name (wheel tags) and the
 * index's Requires-Python alone. Pure.
 *
 * - `platforms`: globs (`*` any run of characters, `?` one) over a wheel's
 *   platform tags. A wheel is kept when one of its platform tags matches one
 *   glob; a pure wheel's tag is `any`, so `any` keeps pure wheels. Sdists have
 *   no platform and are not judged by it.
 * - `python`: a PEP 440 specifier set over Python versions. A file is kept
 *   when some final Python version in the set could install it: its
 *   Requires-Python admits that version and, for a wheel, one of its
 *   (python tag, ABI tag) pairs does too (`cp39` only 3.9; `py3`/`cp3` any
 *   3.x; `cp38-abi3` 3.8 and later; `py2.py3` both majors). `>=3.10` thus
 *   drops cp39-only wheels and keeps py3, abi3 and cp310+ ones. A tag or
 *   Requires-Python that cannot be read keeps the file: the filter only
 *   drops what it knows no Python in the set can use.
 * - `sdists: false` drops sdists.
 */
import { matchesSpecifier, parseSpecifierSet, type SpecifierSet } from './specifiers.ts';
import { parseVersion } from './versions.ts';

export interface FileFilterSpec {
  /** Platform-tag globs; null: every platform. */
  platforms: readonly string[] | null;
  /** A specifier set over Python versions; null: every Python. */
  python: string | null;
  /** false drops sdists. */
  sdists: boolean;
}

/** Which key of the filter drops a file, and that key's setting as the config spells it. */
export interface Exclusion {
  key: 'platforms' | 'python' | 'sdists';
  setting: string;
}

export interface FileFilter {
  readonly spec: FileFilterSpec;
  /** Why the filter drops the file, or null when it keeps it. */
  exclusion(filename: string, requiresPython: string | null): Exclusion | null;
}

const GLOB = /^[a-z0-9_*?]+$/;

/** What is wrong with a filter's settings, by key, or null: the config names the key. */
export function checkFileFilter(spec: FileFilterSpec): { key: 'platforms' | 'python'; message: string } | null {
  for (const g of spec.platforms ?? []) {
    if (!GLOB.test(g)) {
      return {
        key: 'platforms',
        message: `${JSON.stringify(g)} is not a platform glob: platform tags are lowercase letters, digits and '_' ('*' matches any run of them, '?' one; list each platform of a compressed tag set on its own)`,
      };
    }
  }
  if (spec.platforms !== null && spec.platforms.length === 0) {
    return { key: 'platforms', message: 'an empty list would drop every wheel; leave the key out to keep every platform' };
  }
  if (spec.python !== null && parseSpecifierSet(spec.python) === null) {
    return { key: 'python', message: `${JSON.stringify(spec.python)} is not a PEP 440 specifier set (such as ">=3.10" or ">=3.9,<3.13")` };
  }
  return null;
}

function globRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

// Platform tags pip and pypi.org know, one of each shape, to tell a glob that
// can match nothing (a typo) from one that matches tags not listed here.
const ARCHES = ['x86_64', 'i686', 'aarch64', 'armv7l', 'ppc64', 'ppc64le', 's390x', 'riscv64', 'loongarch64'];
const KNOWN_PLATFORMS: readonly string[] = [
  'any', 'win32', 'win_amd64', 'win_arm64', 'win_ia64', 'pyodide_2024_0_wasm32', 'emscripten_3_1_58_wasm32',
  'ios_13_0_arm64_iphoneos', 'ios_13_0_arm64_iphonesimulator', 'ios_13_0_x86_64_iphonesimulator', 'android_21_arm64_v8a', 'android_21_x86_64',
  ...ARCHES.flatMap((a) => [
    `linux_${a}`, `manylinux1_${a}`, `manylinux2010_${a}`, `manylinux2014_${a}`,
    ...Array.from({ length: 41 }, (_, m) => `manylinux_2_${m}_${a}`),
    ...Array.from({ length: 4 }, (_, m) => `musllinux_1_${m}_${a}`),
  ]),
  ...['x86_64', 'arm64', 'universal2', 'universal', 'intel', 'fat3', 'fat64', 'i386', 'ppc', 'ppc64'].flatMap((a) => [
    ...Array.from({ length: 16 }, (_, m) => `macosx_10_${m}_${a}`),
    ...Array.from({ length: 17 }, (_, m) => `macosx_${m + 11}_0_${a}`),
  ]),
];

/** The globs that match no platform tag pip knows: worth a warning, not an error (new platforms appear). */
export function unmatchedPlatformGlobs(spec: FileFilterSpec): string[] {
  return (spec.platforms ?? []).filter((g) => {
    const re = globRegExp(g);
    return !KNOWN_PLATFORMS.some((p) => re.test(p));
  });
}

/** The Python versions (major, minor) a python tag with its ABI tag installs on; null when the tag cannot be read. */
type MinorRange = { major: number; from: number; to: number };

function tagRange(python: string, abi: string): MinorRange | null {
  const m = /^(?:cp|py|pp|ip|jy|graalpy)(\d)(\d*)$/.exec(python.toLowerCase());
  if (!m) return null;
  const major = Number(m[1]);
  if (m[2] === '') return { major, from: 0, to: Infinity };
  const minor = Number(m[2]);
  // A stable-ABI wheel installs on its CPython and every later one (PEP 384).
  if (abi.toLowerCase() === 'abi3' && python.toLowerCase().startsWith('cp')) return { major, from: minor, to: Infinity };
  return { major, from: minor, to: minor };
}

/**
 * What the filter reads of a file name: a wheel's tag sets, or that it is an
 * sdist. Index pages hold names their parser has already checked, so this
 * only splits them (a render judges thousands of files).
 */
type Dist = { kind: 'wheel'; pythonTags: string[]; abiTags: string[]; platformTags: string[] } | { kind: 'sdist' };

function distOf(filename: string): Dist | null {
  if (filename.endsWith('.whl')) {
    const parts = filename.slice(0, -4).split('-');
    if (parts.length !== 5 && parts.length !== 6) return null;
    const [python, abi, platform] = parts.slice(-3).map((t) => t.split('.')) as [string[], string[], string[]];
    return { kind: 'wheel', pythonTags: python, abiTags: abi, platformTags: platform };
  }
  return filename.endsWith('.tar.gz') || filename.endsWith('.zip') ? { kind: 'sdist' } : null;
}

/** Ranges a wheel's tags admit; null when some pair cannot be read (then the wheel is kept). */
function wheelRanges(d: Extract<Dist, { kind: 'wheel' }>): MinorRange[] | null {
  const out: MinorRange[] = [];
  for (const p of d.pythonTags) {
    for (const a of d.abiTags) {
      const r = tagRange(p, a);
      if (r === null) return null;
      out.push(r);
    }
  }
  return out;
}

/** The release numbers a specifier set names, to test the versions where its answer can change. */
function boundaries(set: SpecifierSet): number[][] {
  const out: number[][] = [];
  for (const s of set.specifiers) {
    const v = parseVersion(s.version.replace(/\.\*$/, ''));
    if (!v) continue;
    const r = v.release.map(Number).concat([0, 0]).slice(0, 3);
    out.push(r, [r[0]!, r[1]!, r[2]! + 1]);
  }
  return out;
}

const MAX_MAJOR = 3;
const LAST_MINOR = 40;

/** Python versions in `set` (finals only), one per minor plus the boundaries of both sets, newest minor last. */
function candidates(python: SpecifierSet, requires: SpecifierSet | null): [number, number, number][] {
  const extra = [...boundaries(python), ...(requires ? boundaries(requires) : [])];
  let last = LAST_MINOR;
  for (const b of extra) if (b[0] === MAX_MAJOR) last = Math.max(last, b[1]! + 1);
  const out: [number, number, number][] = [];
  const add = (v: [number, number, number]): void => {
    const text = v.join('.');
    if (matchesSpecifier(text, python, { prereleases: false }) && (!requires || matchesSpecifier(text, requires, { prereleases: false }))) out.push(v);
  };
  for (let major = 2; major <= MAX_MAJOR; major++) {
    for (let minor = 0; minor <= (major === 2 ? 7 : last); minor++) add([major, minor, 0]);
  }
  for (const b of extra) if (b[0]! >= 2 && b[0]! <= MAX_MAJOR && b[2]! > 0) add([b[0]!, b[1]!, b[2]!]);
  return out;
}

export function compileFileFilter(spec: FileFilterSpec): FileFilter {
  const globs = spec.platforms?.map(globRegExp) ?? null;
  const pythonSet = spec.python === null ? null : parseSpecifierSet(spec.python);
  const platformSetting = spec.platforms?.join(', ') ?? '';
  // Many files share their tags and Requires-Python: each combination is judged once.
  const pythonMemo = new Map<string, boolean>();

  const pythonKeeps = (d: Dist, requiresPython: string | null): boolean => {
    if (pythonSet === null) return true;
    const rp = requiresPython?.trim() || null;
    const key = `${d.kind === 'wheel' ? `${d.pythonTags.join('.')}-${d.abiTags.join('.')}` : 'sdist'}|${rp ?? ''}`;
    let keep = pythonMemo.get(key);
    if (keep === undefined) {
      keep = judgePython(d, rp, pythonSet);
      if (pythonMemo.size < 10_000) pythonMemo.set(key, keep);
    }
    return keep;
  };

  return {
    spec,
    exclusion(filename: string, requiresPython: string | null): Exclusion | null {
      const d = distOf(filename);
      // Index pages list wheels and sdists only; what cannot be read is not judged.
      if (d === null) return null;
      if (d.kind === 'sdist') {
        if (!spec.sdists) return { key: 'sdists', setting: 'false' };
      } else if (globs !== null && !d.platformTags.some((p) => globs.some((g) => g.test(p.toLowerCase())))) {
        return { key: 'platforms', setting: platformSetting };
      }
      if (!pythonKeeps(d, requiresPython)) return { key: 'python', setting: spec.python! };
      return null;
    },
  };
}

function judgePython(d: Dist, requiresPython: string | null, python: SpecifierSet): boolean {
  const requires = requiresPython === null ? null : parseSpecifierSet(requiresPython);
  // Unreadable Requires-Python: pip ignores it, so does the filter.
  const versions = candidates(python, requiresPython !== null && requires === null ? null : requires);
  if (d.kind === 'sdist') return versions.length > 0;
  const ranges = wheelRanges(d);
  if (ranges === null) return true;
  return versions.some(([major, minor]) => ranges.some((r) => r.major === major && minor >= r.from && minor <= r.to));
}

/** The filter as one line for messages: `platforms: a, b; python: >=3.10; sdists: false`. */
export function describeFileFilter(spec: FileFilterSpec): string {
  const parts: string[] = [];
  if (spec.platforms !== null) parts.push(`platforms: ${spec.platforms.join(', ')}`);
  if (spec.python !== null) parts.push(`python: ${spec.python}`);
  if (!spec.sdists) parts.push('sdists: false');
  return parts.join('; ');
}
