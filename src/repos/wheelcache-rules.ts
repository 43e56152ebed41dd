/**
 * What a wheel cache may add to an upstream release, as pure functions:
 * which platform tags are portable, whether a cache wheel declares the
 * release's dependencies, and what the upstream's state (its own files,
 * yanks, removals, quarantine) makes of each cache wheel. The cache's upload
 * rules and every page that shows cache wheels (merged or its own) use
 * these, so they cannot disagree.
 */
import type { CoreMetadata } from '../pypi/core-metadata.ts';
import { parseDistFilename } from '../pypi/filenames.ts';
import type { IndexFile, ProjectPage } from '../pypi/pages.ts';
import { parseSpecifierSet, specifierSetToString } from '../pypi/specifiers.ts';
import { canonicalVersion } from '../pypi/versions.ts';
import { parseRequirement } from '../resolve/requirements.ts';

// Platform tags a wheel can carry to more than the machine it was built on:
// the ones pypi.org accepts, bar linux_* (accepted there for piwheels' ARM
// boards, but a promise about one distribution's libraries only).
const PORTABLE_PLATFORMS: readonly RegExp[] = [
  /^any$/,
  /^manylinux1_(?:x86_64|i686)$/,
  /^manylinux2010_(?:x86_64|i686)$/,
  /^manylinux2014_[a-z0-9_]+$/,
  /^manylinux_\d+_\d+_[a-z0-9_]+$/, // PEP 600
  /^musllinux_\d+_\d+_[a-z0-9_]+$/, // PEP 656
  /^macosx_\d+_\d+_[a-z0-9_]+$/,
  /^win32$/,
  /^win_(?:amd64|arm64|ia64)$/,
  /^ios_\d+_\d+_[a-z0-9_]+_(?:iphoneos|iphonesimulator)$/, // PEP 730
  /^android_\d+_[a-z0-9_]+$/, // PEP 738
  /^pyodide_\d+_\d+_wasm32$/, // PEP 783
];

/** The platform tags of a wheel that promise nothing beyond the machine that built it (`linux_x86_64`…). */
export function nonPortablePlatforms(platformTags: readonly string[]): string[] {
  return platformTags.filter((tag) => !PORTABLE_PLATFORMS.some((re) => re.test(tag.toLowerCase())));
}

// --- Whether an upstream wheel already serves the cache wheel's platform ----------

const MACOS_ARCHES: Record<string, readonly string[]> = {
  universal2: ['arm64', 'x86_64'],
  intel: ['i386', 'x86_64'],
  fat: ['i386', 'ppc'],
  fat3: ['i386', 'ppc', 'x86_64'],
  fat64: ['ppc64', 'x86_64'],
  universal: ['i386', 'ppc', 'ppc64', 'x86_64'],
};

/** The machines (`os:arch`) a platform tag installs on, whatever their OS version; null for `any`. */
function machinesOf(platform: string): string[] | null {
  const p = platform.toLowerCase();
  if (p === 'any') return null;
  let m = /^(?:manylinux1|manylinux2010|manylinux2014|manylinux_\d+_\d+|linux)_(.+)$/.exec(p);
  if (m) return [`linux-gnu:${m[1]}`];
  if ((m = /^musllinux_\d+_\d+_(.+)$/.exec(p))) return [`linux-musl:${m[1]}`];
  if ((m = /^macosx_\d+_\d+_(.+)$/.exec(p))) return (MACOS_ARCHES[m[1]!] ?? [m[1]!]).map((a) => `macos:${a}`);
  if (p === 'win32') return ['windows:x86'];
  if ((m = /^win_(.+)$/.exec(p))) return [`windows:${m[1]}`];
  return [p];
}

interface Tag { python: string; abi: string; machines: string[] | null }

function tagsOf(filename: string): Tag[] | null {
  let d;
  try {
    d = parseDistFilename(filename);
  } catch {
    return null;
  }
  if (d.kind !== 'wheel') return null;
  const out: Tag[] = [];
  for (const python of d.pythonTags) for (const abi of d.abiTags) for (const platform of d.platformTags) {
    out.push({ python: python.toLowerCase(), abi: abi.toLowerCase(), machines: machinesOf(platform) });
  }
  return out;
}

/** Would an interpreter that takes `ours` also take `theirs` (pip's tag list, roughly: same tags, abi3 of an older CPython, or pure Python)? */
function servesInterpreter(theirs: Tag, ours: Tag): boolean {
  if (theirs.python === ours.python && (theirs.abi === ours.abi || theirs.abi === 'none')) return true;
  const major = /^[a-z]+(\d)/.exec(ours.python)?.[1];
  // py3, py311 with no ABI: any Python 3 takes it.
  if (theirs.abi === 'none' && /^py\d*$/.test(theirs.python)) return major !== undefined && theirs.python.startsWith(`py${major}`);
  const their = /^cp3(\d+)$/.exec(theirs.python);
  const mine = /^cp3(\d+)$/.exec(ours.python);
  return theirs.abi === 'abi3' && their !== null && mine !== null && Number(mine[1]) >= Number(their[1]);
}

/**
 * The upstream wheel (among `upstream`) that a machine taking the cache
 * wheel would take as well, or null. pip ranks a newer manylinux, a
 * specific ABI or a build tag above what the upstream ships, so a cache
 * wheel for a platform the upstream already serves would replace the
 * upstream's wheel there: the cache only fills platforms the upstream lacks.
 */
export function upstreamWheelFor(filename: string, upstream: readonly IndexFile[]): string | null {
  const ours = tagsOf(filename);
  if (!ours) return null;
  for (const u of upstream) {
    if (u.filename === filename) continue;
    const theirs = tagsOf(u.filename);
    if (!theirs) continue;
    const serves = theirs.some((t) => ours.some((o) =>
      servesInterpreter(t, o) && (t.machines === null || (o.machines !== null && o.machines.some((m) => t.machines!.includes(m))))));
    if (serves) return u.filename;
  }
  return null;
}

/**
 * A requirement in one canonical spelling: PEP 503 name, sorted PEP 685
 * extras, packaging's specifier and marker forms. Text that does not parse is
 * compared as written (trimmed), so it can only equal itself.
 */
export function canonicalRequirement(text: string): string {
  try {
    const r = parseRequirement(text);
    const extras = r.extras.length > 0 ? `[${r.extras.join(',')}]` : '';
    const target = r.url !== null ? ` @ ${r.url}` : r.specifier;
    return `${r.normalizedName}${extras}${target}${r.marker ? `; ${r.marker.toString()}` : ''}`;
  } catch {
    return text.trim();
  }
}

function canonicalRequiresPython(text: string | null): string {
  if (text === null || text.trim() === '') return '';
  const set = parseSpecifierSet(text.trim());
  return set ? specifierSetToString(set) : text.trim();
}

/**
 * How the cache wheel's dependencies differ from the upstream file's: one
 * line naming what was added and what is missing, or null when they match
 * (Requires-Dist as a set of canonical requirements, Requires-Python as a
 * canonical specifier set).
 */
export function dependencyDifference(upstream: CoreMetadata, wheel: CoreMetadata): string | null {
  const problems: string[] = [];
  const theirs = new Set(upstream.requiresDist.map(canonicalRequirement));
  const ours = new Set(wheel.requiresDist.map(canonicalRequirement));
  const added = [...ours].filter((r) => !theirs.has(r)).sort();
  const missing = [...theirs].filter((r) => !ours.has(r)).sort();
  if (added.length > 0 || missing.length > 0) {
    const parts = [
      ...(added.length > 0 ? [`adds ${added.map((r) => `'${r}'`).join(', ')}`] : []),
      ...(missing.length > 0 ? [`lacks ${missing.map((r) => `'${r}'`).join(', ')}`] : []),
    ];
    problems.push(`Requires-Dist ${parts.join(' and ')}`);
  }
  const upPython = canonicalRequiresPython(upstream.requiresPython);
  const ourPython = canonicalRequiresPython(wheel.requiresPython);
  if (upPython !== ourPython) problems.push(`Requires-Python is '${ourPython || '(none)'}', upstream's is '${upPython || '(none)'}'`);
  return problems.length > 0 ? problems.join('; ') : null;
}

/** One upstream release as the cache sees it. */
export interface UpstreamRelease {
  files: IndexFile[];
  /** The reason when every file of the release is yanked ('' without one); null when it is not. */
  yanked: string | null;
}

/** The upstream's files of each release, by canonical version; files whose names do not parse are left out. */
export function upstreamReleases(page: ProjectPage): Map<string, UpstreamRelease> {
  const releases = new Map<string, UpstreamRelease>();
  for (const f of page.files) {
    const version = versionOf(f.filename);
    if (version === null) continue;
    let r = releases.get(version);
    if (!r) releases.set(version, (r = { files: [], yanked: null }));
    r.files.push(f);
  }
  for (const r of releases.values()) {
    // A release is yanked when all its files are (pypi.org yanks whole releases;
    // one yanked file of an index that yanks per file does not yank the others).
    const first = r.files[0]!;
    r.yanked = r.files.every((f) => f.yanked !== false) && first.yanked !== false ? first.yanked : null;
  }
  return releases;
}

/** A file's canonical PEP 440 version, from its name; null when the name does not parse. */
export function versionOf(filename: string): string | null {
  try {
    return canonicalVersion(parseDistFilename(filename).version);
  } catch {
    return null;
  }
}

/** A cache wheel as an upstream page shows it: with the upstream's state applied, or hidden and why. */
export type CacheFileState = { shown: IndexFile } | { hidden: string };

/**
 * What the upstream's page makes of one cache wheel. The upstream's state
 * wins: a quarantined project (PEP 792), a release it no longer lists, a
 * filename it has itself, or a wheel of its own for the same platform hides
 * the wheel; a release it yanked yanks it, with
 * the upstream's reason. A shown wheel keeps its own upload-time and says
 * which cache it came from.
 */
export function cacheFileState(
  file: IndexFile,
  upstream: { page: ProjectPage; releases: Map<string, UpstreamRelease>; filenames: ReadonlySet<string> },
  ctx: { cache: string; remote: string },
): CacheFileState {
  const { page, releases, filenames } = upstream;
  if (page.status?.status === 'quarantined') {
    return { hidden: `upstream '${ctx.remote}' has quarantined project '${page.name}' (PEP 792)${page.status.reason ? `: ${page.status.reason}` : ''}` };
  }
  if (filenames.has(file.filename)) return { hidden: `upstream '${ctx.remote}' has its own '${file.filename}', which wins` };
  const version = versionOf(file.filename);
  const release = version === null ? undefined : releases.get(version);
  if (!release) return { hidden: `upstream '${ctx.remote}' no longer lists release ${page.name} ${version ?? '?'}` };
  const theirs = upstreamWheelFor(file.filename, release.files);
  if (theirs !== null) return { hidden: `upstream '${ctx.remote}' now has '${theirs}' for the same platform, which wins` };
  const yanked = release.yanked ?? file.yanked;
  return { shown: { ...file, yanked, origin: { source: 'wheelcache', repository: ctx.cache } } };
}

/**
 * The cache's wheels that an upstream page shows, each with its state, and
 * the ones it hides. `files` in the cache's order.
 */
export function cacheFilesOn(page: ProjectPage, files: readonly IndexFile[], ctx: { cache: string; remote: string }): { shown: IndexFile[]; hidden: Map<string, string> } {
  const upstream = { page, releases: upstreamReleases(page), filenames: new Set(page.files.map((f) => f.filename)) };
  const shown: IndexFile[] = [];
  const hidden = new Map<string, string>();
  for (const f of files) {
    const state = cacheFileState(f, upstream, ctx);
    if ('shown' in state) shown.push(state.shown);
    else hidden.set(f.filename, state.hidden);
  }
  return { shown, hidden };
}
