/**
 * Targets: the machine a resolution is for, as pip on that machine sees it.
 *
 * A target is a PEP 508 marker environment plus the ordered list of wheel
 * tags pip on that machine accepts, most preferred first. It comes from a
 * `--target` shorthand (`cp311-manylinux_2_17_x86_64`), whose tag list is
 * derived here exactly as pip derives it, or from a `--target-file` printed
 * on the node itself (`targetFromJson`). `bestWheel` then picks a release's
 * wheel for a target as pip's `PackageFinder._sort_key` does.
 *
 * "Exactly as pip" means pip 23.x, which vendors packaging 21.3, and the
 * order pip keeps up to 26.2: `get_supported()` (src/pip/_internal/utils/
 * compatibility_tags.py) = `cpython_tags` + `compatible_tags(interpreter=cpXY)`.
 * packaging's own `sys_tags()` adds `cpXY-none-any` only from packaging 22
 * on, so under pip 23 it is one tag shorter than what pip installs by; the
 * target list follows pip. Tests compare every list with packaging and pip
 * on this machine.
 *
 * Pure: no I/O.
 */
import { InvalidDistribution, InvalidTarget } from '../errors.ts';
import { parseDistFilename } from '../pypi/filenames.ts';
import type { MarkerEnvironment } from './markers.ts';

const ENV_KEYS: ReadonlyArray<keyof MarkerEnvironment> = [
  'os_name', 'sys_platform', 'platform_machine', 'platform_python_implementation', 'platform_release',
  'platform_system', 'platform_version', 'python_version', 'python_full_version', 'implementation_name',
  'implementation_version',
];

export interface Target {
  /** The shorthand (`cp311-manylinux_2_17_x86_64`) or a label (a file name). */
  name: string;
  env: MarkerEnvironment;
  /**
   * Supported wheel tags (`interpreter-abi-platform`, lowercase), most
   * preferred first. Frozen: `bestWheel` caches a ranking per list.
   */
  tags: readonly string[];
}

/**
 * Where the native `linux_<arch>` tag goes in a Linux platform list.
 * - `last` (default): after every manylinux/musllinux tag, as packaging
 *   < 26.3 orders it, i.e. pip 23.x to 26.2 (pip 23 is the oracle here).
 * - `first`: packaging 26.3 (vendored by pip 26.3) moves it before manylinux
 *   and musllinux (pypa/packaging #160, PR #1216; /work/shared/PACKAGING-2026.md
 *   §3 "Ordering"), so a locally built `linux_x86_64` wheel beats the
 *   manylinux wheel of the same release on such nodes.
 */
export type LinuxTagPosition = 'last' | 'first';

export interface TagOptions {
  linuxTag?: LinuxTagPosition;
}

// --- Platforms --------------------------------------------------------------

/**
 * The oldest glibc minor packaging knows per arch (`_manylinux.platform_tags`:
 * `too_old_glibc2` is 2.4 for x86_64/i686, else 2.16, exclusive), for the
 * arches packaging 21.3 gives manylinux tags at all (`_have_compatible_abi`).
 */
const MANYLINUX_OLDEST: Readonly<Record<string, number>> = {
  x86_64: 5, i686: 5, aarch64: 17, armv7l: 17, ppc64: 17, ppc64le: 17, s390x: 17,
};
const LINUX_ARCHES = Object.keys(MANYLINUX_OLDEST);

/** packaging's `_LEGACY_MANYLINUX_MAP`: the PEP 513/571/599 name of a glibc 2 minor. */
const LEGACY_MANYLINUX: ReadonlyMap<number, string> = new Map([[17, 'manylinux2014'], [12, 'manylinux2010'], [5, 'manylinux1']]);

/** `manylinux_2_<minor>_<arch>` down to the oldest, each legacy alias right after its glibc. */
function manylinuxPlatforms(glibcMinor: number, arch: string): string[] {
  const out: string[] = [];
  for (let minor = glibcMinor; minor >= (MANYLINUX_OLDEST[arch] ?? Infinity); minor--) {
    out.push(`manylinux_2_${minor}_${arch}`);
    const legacy = LEGACY_MANYLINUX.get(minor);
    if (legacy !== undefined) out.push(`${legacy}_${arch}`);
  }
  return out;
}

/** `_musllinux.platform_tags`: musl 1.Y down to 1.0. */
function musllinuxPlatforms(muslMinor: number, arch: string): string[] {
  const out: string[] = [];
  for (let minor = muslMinor; minor >= 0; minor--) out.push(`musllinux_1_${minor}_${arch}`);
  return out;
}

/** `_mac_binary_formats`, for the two arches a target Mac can have. */
function macBinaryFormats(major: number, minor: number, arch: 'x86_64' | 'arm64'): string[] {
  if (arch === 'arm64') return ['arm64', 'universal2'];
  if (major === 10 && minor < 4) return [];
  return ['x86_64', 'intel', 'fat64', 'fat32', 'universal2', 'universal'];
}

/** packaging's `mac_platforms(version, arch)`. */
function macPlatforms(major: number, minor: number, arch: 'x86_64' | 'arm64'): string[] {
  const out: string[] = [];
  if (major === 10) {
    // Before macOS 11 each yearly release bumped the minor.
    for (let m = minor; m >= 0; m--) {
      for (const format of macBinaryFormats(10, m, arch)) out.push(`macosx_10_${m}_${format}`);
    }
    return out;
  }
  // From 11 on the major is the yearly release; the minor (mid-year update) is dropped.
  for (let M = major; M >= 11; M--) {
    for (const format of macBinaryFormats(M, 0, arch)) out.push(`macosx_${M}_0_${format}`);
  }
  // x86_64 runs everything built for 10.x; arm64 only the universal2 builds of it.
  for (let m = 16; m >= 4; m--) {
    const formats = arch === 'x86_64' ? macBinaryFormats(10, m, arch) : ['universal2'];
    for (const format of formats) out.push(`macosx_10_${m}_${format}`);
  }
  return out;
}

/** What a platform tag says about the machine: enough for the tag list and the marker environment. */
type Platform =
  | { os: 'linux'; arch: string; libc: { kind: 'glibc' | 'musl'; minor: number } | null }
  | { os: 'macos'; arch: 'x86_64' | 'arm64'; major: number; minor: number }
  | { os: 'windows'; platform: 'win_amd64' | 'win32' | 'win_arm64' };

const ARCH_ALTERNATION = LINUX_ARCHES.join('|');
const MANYLINUX_RE = new RegExp(`^manylinux_(\\d+)_(\\d+)_(${ARCH_ALTERNATION})$`);
const LEGACY_RE = new RegExp(`^(manylinux2014|manylinux2010|manylinux1)_(${ARCH_ALTERNATION})$`);
const MUSLLINUX_RE = new RegExp(`^musllinux_(\\d+)_(\\d+)_(${ARCH_ALTERNATION})$`);
const LINUX_RE = new RegExp(`^linux_(${ARCH_ALTERNATION})$`);
const MACOS_RE = /^macosx_(\d+)_(\d+)_(x86_64|arm64)$/;

/** One platform tag → Platform; a string says why it is refused. */
function parsePlatform(text: string): Platform | string {
  let m = MANYLINUX_RE.exec(text);
  if (m) {
    const [major, minor, arch] = [Number(m[1]), Number(m[2]), m[3] ?? ''];
    const oldest = MANYLINUX_OLDEST[arch] ?? 0;
    if (major !== 2) return `manylinux_${major}_* is not a glibc pydepot knows (glibc 2 only)`;
    if (minor < oldest) {
      return `${text} is older than the oldest manylinux for ${arch} (manylinux_2_${oldest}_${arch}): write manylinux_2_${oldest}_${arch} or newer`;
    }
    return { os: 'linux', arch, libc: { kind: 'glibc', minor } };
  }
  m = LEGACY_RE.exec(text);
  if (m) {
    const legacy = m[1] ?? '';
    const arch = m[2] ?? '';
    const minor = [...LEGACY_MANYLINUX].find(([, name]) => name === legacy)?.[0] ?? 17;
    // PEP 513/571 define manylinux1 and manylinux2010 for x86_64 and i686 only.
    if (minor < (MANYLINUX_OLDEST[arch] ?? 0)) return `${legacy} exists only for x86_64 and i686, not ${arch}`;
    return { os: 'linux', arch, libc: { kind: 'glibc', minor } };
  }
  m = MUSLLINUX_RE.exec(text);
  if (m) {
    if (Number(m[1]) !== 1) return `musllinux_${m[1]}_* is not a musl pydepot knows (musl 1 only)`;
    return { os: 'linux', arch: m[3] ?? '', libc: { kind: 'musl', minor: Number(m[2]) } };
  }
  m = LINUX_RE.exec(text);
  if (m) return { os: 'linux', arch: m[1] ?? '', libc: null };
  m = MACOS_RE.exec(text);
  if (m) {
    const [major, minor, arch] = [Number(m[1]), Number(m[2]), m[3] === 'arm64' ? 'arm64' : 'x86_64'] as const;
    if (major < 10) return `macOS ${major} is older than any macOS with wheels (10.0)`;
    // packaging would answer (arm64 and universal2 tags for 10.x), but no arm64 Mac runs macOS 10.
    if (arch === 'arm64' && major < 11) return 'arm64 Macs run macOS 11 or later: write macosx_11_0_arm64 or newer';
    // packaging has no x86_64 tag before 10.4 (an empty list, which would make it fall back to the host's).
    if (major === 10 && minor < 4) return 'x86_64 Macs run macOS 10.4 or later: write macosx_10_4_x86_64 or newer';
    return { os: 'macos', arch, major, minor };
  }
  if (text === 'win_amd64' || text === 'win32' || text === 'win_arm64') return { os: 'windows', platform: text };
  return 'unknown platform';
}

/** The platform list packaging computes for a machine of this platform. */
function platformList(p: Platform, options: TagOptions): string[] {
  switch (p.os) {
    case 'linux': {
      // packaging's `_linux_platforms`: manylinux (glibc systems), musllinux (musl systems), the native tag.
      const libc = p.libc === null ? []
        : p.libc.kind === 'glibc' ? manylinuxPlatforms(p.libc.minor, p.arch)
          : musllinuxPlatforms(p.libc.minor, p.arch);
      const native = `linux_${p.arch}`;
      return (options.linuxTag ?? 'last') === 'first' ? [native, ...libc] : [...libc, native];
    }
    case 'macos':
      return macPlatforms(p.major, p.minor, p.arch);
    case 'windows':
      // `_generic_platforms`: the interpreter's own platform, alone.
      return [p.platform];
  }
}

/**
 * The ordered platform tags of a machine whose best platform tag is
 * `platform`: `manylinux_2_28_x86_64` → every older manylinux with its
 * legacy aliases, then `linux_x86_64`; `macosx_11_0_arm64` → packaging's
 * `mac_platforms((11, 0), 'arm64')`; `win_amd64` → itself.
 */
export function platformTags(platform: string, options: TagOptions = {}): string[] {
  const parsed = parsePlatform(platform.toLowerCase());
  if (typeof parsed === 'string') throw new InvalidTarget(`Unknown platform ${quote(platform)}: ${parsed}. ${ACCEPTED_FORMS}`);
  return platformList(parsed, options);
}

// --- CPython tags -----------------------------------------------------------

/**
 * pip's `get_supported(version='3<minor>', impl='cp', platforms)`, unexpanded:
 * packaging's `cpython_tags` then `compatible_tags(interpreter='cp3<minor>')`.
 * The ABI is `cp3X` (`cp3Xm` before 3.8: pymalloc, as on every standard
 * build); debug and free-threaded builds are out of scope.
 */
export function cpythonTags(minor: number, platforms: readonly string[]): string[] {
  const interpreter = `cp3${minor}`;
  const abi = minor >= 8 ? interpreter : `${interpreter}m`;
  const tags: string[] = [];
  for (const p of platforms) tags.push(`${interpreter}-${abi}-${p}`);
  // PEP 384: abi3 from 3.2 on, and this and every older 3.x minor's abi3 wheels load.
  const abi3 = minor >= 2;
  if (abi3) for (const p of platforms) tags.push(`${interpreter}-abi3-${p}`);
  for (const p of platforms) tags.push(`${interpreter}-none-${p}`);
  if (abi3) for (let m = minor - 1; m >= 2; m--) for (const p of platforms) tags.push(`cp3${m}-abi3-${p}`);
  // `_py_interpreter_range`: py3X, then py3, then every older py3x down to py30.
  const pyRange = [`py3${minor}`, 'py3'];
  for (let m = minor - 1; m >= 0; m--) pyRange.push(`py3${m}`);
  for (const py of pyRange) for (const p of platforms) tags.push(`${py}-none-${p}`);
  tags.push(`${interpreter}-none-any`);
  for (const py of pyRange) tags.push(`${py}-none-any`);
  return tags;
}

// --- Marker environments ------------------------------------------------------

/**
 * The marker environment of a CPython 3.<minor> on a platform, as Python
 * reports it there (`packaging.markers.default_environment()`).
 *
 * A shorthand does not know everything, so some values are approximations;
 * a `--target-file` printed on the node is exact:
 * - python_full_version (and implementation_version) is `3.<minor>.0`: the
 *   micro version is unknown, and `.0` is what pip assumes for
 *   `--python-version 3.11` (TargetPython pads it with zeros). A marker such
 *   as `python_full_version >= "3.11.4"` is then false, where a 3.11.9 node
 *   says true.
 * - platform_release and platform_version (kernel or OS build) are unknown: ''.
 * - platform_machine is what `platform.machine()` says on that OS (AMD64 and
 *   ARM64 on Windows). For win32 it is 'x86', as on 32-bit Windows; a 32-bit
 *   Python on 64-bit Windows reports the machine's AMD64 instead. Likewise an
 *   i686 Python on an x86_64 Linux kernel reports x86_64.
 */
function shorthandEnvironment(minor: number, p: Platform): MarkerEnvironment {
  const version = `3.${minor}`;
  const full = `${version}.0`;
  const python = {
    python_version: version, python_full_version: full,
    implementation_name: 'cpython', implementation_version: full, platform_python_implementation: 'CPython',
    platform_release: '', platform_version: '',
  };
  switch (p.os) {
    case 'linux':
      return { ...python, os_name: 'posix', sys_platform: 'linux', platform_system: 'Linux', platform_machine: p.arch };
    case 'macos':
      return { ...python, os_name: 'posix', sys_platform: 'darwin', platform_system: 'Darwin', platform_machine: p.arch };
    case 'windows': {
      const machine = { win_amd64: 'AMD64', win32: 'x86', win_arm64: 'ARM64' }[p.platform];
      return { ...python, os_name: 'nt', sys_platform: 'win32', platform_system: 'Windows', platform_machine: machine };
    }
  }
}

// --- Shorthands -------------------------------------------------------------

const ACCEPTED_FORMS = 'Accepted: cp3<minor>-<platform>, with <platform> one of '
  + `manylinux_2_<glibc minor>_<arch>, manylinux2014_<arch>, manylinux2010_<arch>, manylinux1_<arch>, `
  + `musllinux_1_<musl minor>_<arch>, linux_<arch> (arch: ${LINUX_ARCHES.join(', ')}), `
  + 'macosx_10_<minor>_x86_64, macosx_<11 or later>_<minor>_x86_64, macosx_<11 or later>_<minor>_arm64, '
  + 'win_amd64, win32, win_arm64; e.g. cp311-manylinux_2_17_x86_64, cp312-manylinux_2_28_aarch64, '
  + 'cp310-macosx_11_0_arm64, cp311-win_amd64, cp311-musllinux_1_2_x86_64. '
  + 'For any other node, or to be exact, give the node\'s own environment with --target-file.';

/** A user-supplied string for a one-line message: escaped, and cut if long. */
function quote(s: string): string {
  const cut = s.length > 120 ? `${s.slice(0, 120)}…` : s;
  return `'${cut.replace(/[^\x20-\x7e…]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}'`;
}

function freeze(name: string, env: MarkerEnvironment, tags: string[]): Target {
  return Object.freeze({ name, env: Object.freeze(env), tags: Object.freeze(tags) });
}

/**
 * `cp311-manylinux_2_17_x86_64` → the target of a CPython 3.11 on an x86_64
 * Linux with glibc 2.17: its tags accept manylinux_2_17 and every older
 * manylinux, as pip on that machine would. A legacy name is its glibc:
 * `manylinux2014_x86_64` is the same machine as `manylinux_2_17_x86_64`
 * (PEP 599), and so takes manylinux_2_17 wheels too, where pip's
 * `--platform manylinux2014_x86_64` takes only manylinux2014/2010/1 ones.
 * Case-insensitive. Throws InvalidTarget, listing the accepted forms, for
 * anything else.
 */
export function parseTargetShorthand(text: string, options: TagOptions = {}): Target {
  const lower = text.trim().toLowerCase();
  const m = /^cp3(\d+)-(.*)$/.exec(lower);
  if (!m) {
    const hint = /^(manylinux|musllinux|linux|macosx|win)/.test(lower)
      ? ` A target needs its Python too: write e.g. cp311-${lower}.`
      : /^(cp2|py|pp)/.test(lower) ? ' Only CPython 3 targets can be given as a shorthand.' : '';
    throw new InvalidTarget(`Unknown target ${quote(text)}.${hint} ${ACCEPTED_FORMS}`);
  }
  const minor = Number(m[1]);
  // Two digits at most, no leading zero: cp3011 is not a Python.
  if (String(minor) !== m[1] || minor > 99) throw new InvalidTarget(`Unknown target ${quote(text)}: 'cp3${m[1]}' is not a CPython. ${ACCEPTED_FORMS}`);
  if (minor < 3) throw new InvalidTarget(`Unknown target ${quote(text)}: CPython 3.${minor} is too old (3.3 or later). ${ACCEPTED_FORMS}`);
  const platform = parsePlatform(m[2] ?? '');
  if (typeof platform === 'string') throw new InvalidTarget(`Unknown target ${quote(text)}: ${platform}. ${ACCEPTED_FORMS}`);
  return freeze(lower, shorthandEnvironment(minor, platform), cpythonTags(minor, platformList(platform, options)));
}

// --- Target files -------------------------------------------------------------

/**
 * The `--target-file` one-liner, exact: the environment and the very tag
 * list pip on the node installs by. It imports pip itself (present wherever
 * pip installs), not `packaging`. `get_supported()` rather than packaging's
 * `sys_tags()`: under pip 23 (packaging 21.3) `sys_tags()` lacks
 * `cp3X-none-any`, which pip accepts. Same text as the README.
 */
export const TARGET_FILE_COMMAND = 'python3 -c "import json; from pip._internal.utils.compatibility_tags import get_supported as g; '
  + 'from pip._vendor.packaging.markers import default_environment as e; '
  + 'print(json.dumps({\'env\': e(), \'tags\': [str(t) for t in g()]}))"';

/**
 * The stdlib-only one-liner, for a Python without pip: the environment as
 * packaging's `default_environment()` computes it, and the node's best
 * platform tag (glibc from `platform.libc_ver()`, the macOS version, or the
 * Windows platform), from which pydepot derives the tags. It prints
 * `"platform": null` on a Linux without glibc (musl): write
 * `musllinux_1_<minor>_<arch>` there by hand (`ldd --version` prints the
 * musl version). Same text as the README. This is its Python code alone,
 * which `pydepot wheels build` runs with the node's own Python.
 */
export const TARGET_FILE_SCRIPT_STDLIB = 'import json,os,platform as P,sys,sysconfig as S;'
  + 'i=sys.implementation;v=i.version;a=S.get_platform().replace(\'-\',\'_\').replace(\'.\',\'_\');l=P.libc_ver();m=P.mac_ver()[0];'
  + 'print(json.dumps({\'env\':{\'implementation_name\':i.name,'
  + '\'implementation_version\':\'%d.%d.%d\'%tuple(v[:3])+(\'\' if v.releaselevel==\'final\' else v.releaselevel[0]+str(v.serial)),'
  + '\'os_name\':os.name,\'platform_machine\':P.machine(),\'platform_python_implementation\':P.python_implementation(),'
  + '\'platform_release\':P.release(),\'platform_system\':P.system(),\'platform_version\':P.version(),'
  + '\'python_full_version\':P.python_version(),\'python_version\':\'.\'.join(P.python_version_tuple()[:2]),\'sys_platform\':sys.platform},'
  + '\'platform\':(\'manylinux_\'+\'_\'.join(l[1].split(\'.\')[:2])+a[5:] if l[0]==\'glibc\' else None) if a.startswith(\'linux_\') '
  + 'else \'macosx_\'+\'_\'.join((m.split(\'.\')+[\'0\'])[:2])+\'_\'+P.machine() if m else a}))';

/** The stdlib one-liner as a command line, as the README prints it. */
export const TARGET_FILE_COMMAND_STDLIB = `python3 -c "${TARGET_FILE_SCRIPT_STDLIB}"`;

const TARGET_FILE_KEYS = ['env', 'tags', 'platform', 'name'];
/** One PEP 425 tag, not a compressed set: three non-empty dot-free parts. */
const TAG_RE = /^[a-z0-9_]+-[a-z0-9_]+-[a-z0-9_]+$/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `the string ${quote(value)}` : `a ${typeof value}`;
}

/**
 * A `--target-file` (already JSON-parsed) → Target. Two forms:
 * - `{ "env": {…}, "tags": ["cp311-cp311-manylinux_2_36_x86_64", …] }`, from
 *   `TARGET_FILE_COMMAND`: both used as given (tags lowercased, repeats dropped);
 * - `{ "env": {…}, "platform": "manylinux_2_36_x86_64" }`, from
 *   `TARGET_FILE_COMMAND_STDLIB`: the env as given, the tags derived for
 *   CPython `env.python_version` on that platform, as for a shorthand.
 * An optional `"name"` labels the target; `name` (e.g. the file's path) wins
 * over it; without either the name is `<interpreter>-<best platform>`.
 * Every env variable must be a string; unknown env variables are dropped.
 * Throws InvalidTarget naming the field.
 */
export function targetFromJson(value: unknown, options: TagOptions & { name?: string } = {}): Target {
  const bad = (message: string): InvalidTarget => new InvalidTarget(`Invalid target file: ${message}`);
  if (!isPlainObject(value)) throw bad(`expected a JSON object with "env" and "tags" (or "platform"), got ${describeValue(value)}.`);
  const unknown = Object.keys(value).filter((k) => !TARGET_FILE_KEYS.includes(k));
  if (unknown.length > 0) throw bad(`unknown key ${quote(unknown[0] ?? '')}; the keys are ${TARGET_FILE_KEYS.map((k) => `"${k}"`).join(', ')}.`);

  const rawEnv = value.env;
  if (!isPlainObject(rawEnv)) throw bad(`"env" must be an object of PEP 508 marker variables, got ${describeValue(rawEnv)}.`);
  const env = {} as MarkerEnvironment;
  for (const key of ENV_KEYS) {
    const v = rawEnv[key];
    if (typeof v !== 'string') throw bad(`"env.${key}" must be a string, got ${v === undefined ? 'nothing' : describeValue(v)}.`);
    env[key] = v;
  }
  if (!/^\d+\.\d+$/.test(env.python_version)) throw bad(`"env.python_version" must look like "3.11", got ${quote(env.python_version)}.`);
  if (env.python_full_version !== env.python_version && !env.python_full_version.startsWith(`${env.python_version}.`)) {
    throw bad(`"env.python_full_version" ${quote(env.python_full_version)} is not a ${env.python_version} version.`);
  }

  let tags: string[];
  if (value.tags !== undefined && value.platform !== undefined) throw bad('give "tags" or "platform", not both.');
  if (value.tags !== undefined) {
    if (!Array.isArray(value.tags) || value.tags.length === 0) throw bad(`"tags" must be a non-empty array of tags, got ${describeValue(value.tags)}.`);
    const seen = new Set<string>();
    tags = [];
    value.tags.forEach((raw: unknown, i: number) => {
      if (typeof raw !== 'string' || !TAG_RE.test(raw.toLowerCase())) {
        throw bad(`"tags[${i}]" must be one interpreter-abi-platform tag such as "cp311-cp311-manylinux_2_17_x86_64", got ${describeValue(raw)}.`);
      }
      // packaging's Tag is lowercase; a repeated tag keeps its first (best) rank.
      const tag = raw.toLowerCase();
      if (!seen.has(tag)) tags.push(tag);
      seen.add(tag);
    });
  } else if (value.platform !== undefined) {
    tags = tagsForPlatform(env, value.platform, options, bad);
  } else {
    throw bad(`"tags" (the pip one-liner: ${TARGET_FILE_COMMAND}) or "platform" (the stdlib one-liner) is missing.`);
  }

  let name = options.name;
  if (name === undefined && value.name !== undefined) {
    if (typeof value.name !== 'string' || value.name.trim() === '') throw bad(`"name" must be a non-empty string, got ${describeValue(value.name)}.`);
    name = value.name;
  }
  if (name === undefined) {
    const [interpreter, , platform] = (tags[0] ?? '--').split('-');
    name = `${interpreter}-${platform}`;
  }
  return freeze(name, env, tags);
}

function tagsForPlatform(env: MarkerEnvironment, raw: unknown, options: TagOptions, bad: (m: string) => InvalidTarget): string[] {
  if (raw === null) {
    throw bad('"platform" is null: the stdlib one-liner found no glibc on this Linux node (musl?). '
      + 'Write "musllinux_1_<minor>_<arch>" (`ldd --version` prints the musl version), or use the pip one-liner.');
  }
  if (typeof raw !== 'string') throw bad(`"platform" must be a platform tag such as "manylinux_2_36_x86_64", got ${describeValue(raw)}.`);
  const platform = parsePlatform(raw.toLowerCase());
  if (typeof platform === 'string') throw bad(`"platform" ${quote(raw)}: ${platform}. ${ACCEPTED_FORMS}`);
  if (env.implementation_name !== 'cpython') {
    throw bad(`tags can be derived for CPython only, and "env.implementation_name" is ${quote(env.implementation_name)}: give "tags" (the pip one-liner).`);
  }
  const expected = { linux: 'linux', macos: 'darwin', windows: 'win32' }[platform.os];
  if (env.sys_platform !== expected) {
    throw bad(`"platform" ${quote(raw)} is for sys_platform '${expected}', but "env.sys_platform" is ${quote(env.sys_platform)}.`);
  }
  const [major, minor] = env.python_version.split('.').map(Number);
  if (major !== 3 || minor === undefined || minor < 3) throw bad(`CPython ${env.python_version} is not supported (3.3 or later).`);
  return cpythonTags(minor, platformList(platform, options));
}

// --- Choosing a wheel ---------------------------------------------------------

/**
 * The tags a wheel filename declares, its compressed tag sets expanded
 * (`py2.py3-none-any` → py2-none-any, py3-none-any), lowercased as
 * packaging's Tag does. Throws InvalidDistribution for anything but a
 * well-formed wheel filename.
 */
export function wheelTags(filename: string): string[] {
  const parsed = parseDistFilename(filename);
  if (parsed.kind !== 'wheel') throw new InvalidDistribution(`Not a wheel: ${quote(filename)}.`);
  return expand(parsed.pythonTags, parsed.abiTags, parsed.platformTags);
}

function expand(pythonTags: string[], abiTags: string[], platformTags: string[]): string[] {
  const out = new Set<string>();
  for (const py of pythonTags) for (const abi of abiTags) for (const plat of platformTags) {
    out.add(`${py}-${abi}-${plat}`.toLowerCase());
  }
  return [...out];
}

const rankings = new WeakMap<readonly string[], Map<string, number>>();

/** tag → its index in the target's list (first occurrence), built once per list. */
function ranking(tags: readonly string[]): Map<string, number> {
  let ranks = rankings.get(tags);
  if (ranks === undefined) {
    ranks = new Map();
    tags.forEach((tag, i) => { if (!ranks!.has(tag)) ranks!.set(tag, i); });
    rankings.set(tags, ranks);
  }
  return ranks;
}

/** pip's build-tag key: (leading number, rest); no build tag sorts below any. */
function compareBuildTags(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  const [, an = '0', ar = ''] = /^(\d+)(.*)$/.exec(a) ?? [];
  const [, bn = '0', br = ''] = /^(\d+)(.*)$/.exec(b) ?? [];
  const na = BigInt(an);
  const nb = BigInt(bn);
  if (na !== nb) return na < nb ? -1 : 1;
  return ar === br ? 0 : ar < br ? -1 : 1;
}

/**
 * The wheel pip would take for `target` among one release's files: the
 * lowest index any of its tags reaches in `target.tags`, then the higher
 * build tag (pip's `_sort_key`), then the first listed (pip's `max` over a
 * stable sort). Files that are not wheels, or whose names do not parse, are
 * passed over, as pip skips them; null when no wheel is compatible.
 */
export function bestWheel(filenames: Iterable<string>, target: Target): string | null {
  const ranks = ranking(target.tags);
  let best: { filename: string; rank: number; build: string | null } | null = null;
  for (const filename of filenames) {
    if (!filename.toLowerCase().endsWith('.whl')) continue;
    let parsed;
    try {
      parsed = parseDistFilename(filename);
    } catch {
      continue;
    }
    if (parsed.kind !== 'wheel') continue;
    let rank = Infinity;
    for (const tag of expand(parsed.pythonTags, parsed.abiTags, parsed.platformTags)) {
      const r = ranks.get(tag);
      if (r !== undefined && r < rank) rank = r;
    }
    if (rank === Infinity) continue;
    if (best === null || rank < best.rank || (rank === best.rank && compareBuildTags(parsed.buildTag, best.build) > 0)) {
      best = { filename, rank, build: parsed.buildTag };
    }
  }
  return best?.filename ?? null;
}
