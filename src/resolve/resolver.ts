/**
 * What pip would install on a target machine, decided on the server from
 * project pages and core metadata. Pure: pages and metadata come through a
 * `ResolverSource`, and the rules that other modules own (specifiers,
 * markers, wheel tags) come through a `ResolverKit`, so this file holds the
 * search alone.
 *
 * pip's rules, as its resolver (resolvelib + pip's factory) applies them:
 * - the candidates of a project are its versions that every requirement on
 *   it allows, best first (highest version);
 * - versions are compared by PEP 440 (`1.0` and `1.0.0` are one version,
 *   whose files compete together, as pip ranks them);
 * - pre-releases only when a specifier names one, when asked for, or when no
 *   final release matches (packaging's SpecifierSet.filter), judged as pip
 *   does among the versions that have a file the target can use;
 * - yanked files only when every usable file of every allowed version is
 *   yanked and a requirement pins the version with `==` (PEP 592, pip's
 *   `is_pinned`; pip judges "every" over all its candidates, so `==2.0`
 *   skips a yanked `2.0+cpu` when `2.0` is not yanked);
 * - a file is usable when its Requires-Python admits the target's Python and
 *   it is a wheel for one of the target's tags (the best tag wins), or an
 *   sdist when sdists are allowed; the chosen file's own metadata must admit
 *   the Python too (pip checks it, for indexes whose pages do not carry
 *   Requires-Python), else the next candidate is tried;
 * - dependencies are the chosen file's Requires-Dist whose markers hold for
 *   the target and the extras asked of the project, counting only extras
 *   its metadata provides (`Provides-Extra`; pip ignores others, with a
 *   warning); an extra that asks for extras of its own project
 *   (`foo[all]` → `foo[a,b]`) brings theirs too;
 * - the next project to decide is chosen as pip's get_preference does, so
 *   that where two answers fit, pydepot takes pip's;
 * - on a conflict the search backtracks to the last choice and tries the
 *   next candidate (depth first), up to a step budget.
 */
import { normalizeName } from '../pypi/names.ts';
import type { IndexFile, ProjectPage } from '../pypi/pages.ts';
import { parseDistFilename } from '../pypi/filenames.ts';
import { compareParsed, isPrerelease, parseVersion, type ParsedVersion } from '../pypi/versions.ts';
import { bestWheel, type Target } from './tags.ts';

/** One requirement on a project (PEP 508), as the kit parses it. */
export interface Requirement {
  /** Normalized project name. */
  name: string;
  /** Normalized extras asked for. */
  extras: string[];
  /** The specifier set as written (`>=1.0,<2`); '' allows every version. */
  specifier: string;
  /** Does the requirement apply on `env` when the requiring project was asked for `extras`? null: always. */
  applies: ((env: Target['env'], extras: ReadonlySet<string>) => boolean) | null;
  /** Where it comes from, for messages: `requirements.txt:3` or `acme-app 1.0`. */
  origin: string;
}

/** What a resolution is for (tags.ts builds them): a name for messages, the PEP 508 variables, the ordered wheel tags. */
export type { Target } from './tags.ts';

/** The rules other modules own. */
export interface ResolverKit {
  /** Does `version` satisfy `specifier`? `prereleases`: may a pre-release match. */
  contains(specifier: string, version: string, prereleases: boolean): boolean;
  /** Does the specifier itself name a pre-release (`>=2.0b1`), which lets pre-releases in? */
  allowsPrereleases(specifier: string): boolean;
  /** A Requires-Dist line of core metadata, parsed. */
  parseRequirement(text: string, origin: string): Requirement;
}

/** What the resolver reads of one file's core metadata. */
export interface FileMetadata {
  requiresDist: string[];
  requiresPython: string | null;
  /** `Provides-Extra`: the extras whose dependencies count. */
  providesExtra: string[];
}

export interface ResolverSource {
  /** The project's page, or null when no repository has it. */
  page(project: string): Promise<ProjectPage | null>;
  /** The core metadata (METADATA text) of one file of the page. */
  metadata(project: string, file: IndexFile): Promise<FileMetadata>;
}

export interface ResolveOptions {
  /** Sdists are candidates too (a node would build them). */
  allowSdist?: boolean;
  /** Pre-releases everywhere (pip's --pre). */
  pre?: boolean;
  /** Bound on candidates tried, so a pathological set fails instead of running for ever. */
  maxSteps?: number;
  /** pip's `-c`: they narrow a project's versions when something requires it, and require nothing themselves. */
  constraints?: readonly Requirement[];
}

export interface Pin {
  name: string;
  displayName: string;
  version: string;
  file: IndexFile;
  /** The extras asked of it that its metadata provides. */
  extras: string[];
  /** Who asked for it: requirement origins. */
  requiredBy: string[];
}

export class ResolutionImpossible extends Error {
  constructor(readonly target: string, readonly reasons: string[]) {
    super(`cannot resolve for ${target}: ${reasons.join('; ')}`);
    this.name = 'ResolutionImpossible';
  }
}

interface Candidate {
  version: string;
  file: IndexFile;
}

interface Chosen extends Pin {
  deps: Requirement[];
  /** Normalized `Provides-Extra` of the chosen file. */
  provides: ReadonlySet<string>;
}

interface State {
  pins: Map<string, Chosen>;
  /** Every requirement on each project, in the order they were met. */
  criteria: Map<string, Requirement[]>;
  /** pip's inferred depth: 1 for what the user asked for, else 1 + the shallowest pin that requires it. */
  depth: Map<string, number>;
}

const DEFAULT_MAX_STEPS = 20_000;

export async function resolve(roots: readonly Requirement[], target: Target, source: ResolverSource, kit: ResolverKit, opts: ResolveOptions = {}): Promise<Pin[]> {
  const r = new Resolver(target, source, kit, opts);
  return r.run(roots);
}

class Resolver {
  private steps = 0;
  private readonly maxSteps: number;
  private readonly pages = new Map<string, Promise<ProjectPage | null>>();
  private readonly metadata = new Map<string, Promise<FileMetadata>>();
  /** Why each project had no candidate the last time it was tried. */
  private readonly failures = new Map<string, string>();
  private readonly python: string;
  private readonly constraints = new Map<string, Requirement[]>();
  /** pip's `user_requested`: the position of each project's first root requirement. */
  private readonly requested = new Map<string, number>();
  /** pythonAdmits, by Requires-Python text. */
  private readonly admits = new Map<string, boolean>();
  /** allows(), by specifier and version. */
  private readonly allowed = new Map<string, boolean>();

  constructor(private readonly target: Target, private readonly source: ResolverSource, private readonly kit: ResolverKit, private readonly opts: ResolveOptions) {
    this.maxSteps = opts.maxSteps ?? DEFAULT_MAX_STEPS;
    this.python = target.env.python_full_version ?? target.env.python_version ?? '';
    for (const c of opts.constraints ?? []) {
      if (c.applies && !c.applies(target.env, new Set())) continue;
      const name = normalizeName(c.name);
      this.constraints.set(name, [...(this.constraints.get(name) ?? []), c]);
    }
  }

  async run(roots: readonly Requirement[]): Promise<Pin[]> {
    const state: State = { pins: new Map(), criteria: new Map(), depth: new Map() };
    const applicable = roots.filter((r) => !r.applies || r.applies(this.target.env, new Set()));
    for (const r of applicable) {
      addCriterion(state, r, 0);
      const name = normalizeName(r.name);
      if (!this.requested.has(name)) this.requested.set(name, this.requested.size);
    }
    const solved = await this.solve(state);
    if (!solved) {
      const reasons = [...this.failures.values()];
      throw new ResolutionImpossible(this.target.name, reasons.length > 0 ? reasons : ['the requirements conflict']);
    }
    return [...solved.pins.values()]
      .map(({ deps: _deps, provides: _provides, ...pin }) => pin)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Depth first: choose a project, try its candidates best first, recurse; null when nothing works. */
  private async solve(state: State): Promise<State | null> {
    const name = this.next(state);
    if (name === null) return state;
    const criteria = state.criteria.get(name)!;
    const candidates = await this.candidates(name, criteria);
    for (const [i, c] of candidates.entries()) {
      if (++this.steps > this.maxSteps) {
        throw new ResolutionImpossible(this.target.name, [`gave up after trying ${this.maxSteps} candidates; pin more versions`]);
      }
      // The last candidate may change `state` itself: nothing reads it after (the caller
      // passed its own copy, dropped if this fails). A pinned set then copies nothing.
      const next = i === candidates.length - 1 ? state : cloneState(state);
      if (!(await this.pin(next, name, c))) continue;
      const solved = await this.solve(next);
      if (solved) return solved;
    }
    return null;
  }

  /**
   * The next project to decide, by pip's get_preference (pip 23): pinned
   * (`==`, `===`) requirements first, then the shallowest, then the user's
   * order, then one that some requirement narrows (any specifier) before a
   * free one, then the name. Where two answers fit, the order picks one, so
   * it must be pip's. (pip also prefers the causes of its last conflict while
   * it backtracks; this depth-first search does not.)
   */
  private next(state: State): string | null {
    let best: string | null = null;
    let bestKey: PreferenceKey | null = null;
    for (const [name, reqs] of state.criteria) {
      if (state.pins.has(name)) continue;
      const key: PreferenceKey = [
        reqs.some((r) => /(^|,)\s*===?/.test(r.specifier)) ? 0 : 1,
        state.depth.get(name)!,
        this.requested.get(name) ?? Infinity,
        reqs.some((r) => r.specifier !== '') ? 0 : 1,
        name,
      ];
      if (!bestKey || comparePreference(key, bestKey) < 0) {
        best = name;
        bestKey = key;
      }
    }
    return best;
  }

  /** Pins `name` to `c` and adds its dependencies; false when that contradicts a pin already made. */
  private async pin(state: State, name: string, c: Candidate): Promise<boolean> {
    const page = (await this.page(name))!;
    const criteria = state.criteria.get(name)!;
    const meta = await this.fileMetadata(name, c);
    if (!this.pythonAdmits(meta.requiresPython)) {
      // The page did not say (an index without data-requires-python); pip reads the metadata and moves on.
      this.failures.set(name, `${page.displayName} ${c.version} requires Python ${meta.requiresPython} (${this.target.name} has ${this.python})`);
      return false;
    }
    const provides = new Set(meta.providesExtra.map(normalizeName));
    const extras = [...new Set(criteria.flatMap((r) => r.extras))].filter((e) => provides.has(normalizeName(e))).sort();
    const deps = meta.requiresDist.map((text) => this.kit.parseRequirement(text, `${page.displayName} ${c.version}`));
    const pinned: Chosen = {
      name, displayName: page.displayName, version: c.version, file: c.file, extras,
      requiredBy: [...new Set(criteria.map((r) => r.origin))], deps, provides,
    };
    state.pins.set(name, pinned);
    return this.addDependencies(state, pinned, deps, new Set(extras));
  }

  private addDependencies(state: State, parent: Chosen, deps: readonly Requirement[], extras: ReadonlySet<string>): boolean {
    const depth = state.depth.get(parent.name)!;
    for (const dep of deps) {
      if (dep.applies && !dep.applies(this.target.env, extras)) continue;
      const pinned = state.pins.get(dep.name);
      if (pinned && !this.allows(dep.specifier, pinned.version)) {
        this.failures.set(dep.name, `${dep.origin} requires ${dep.name}${dep.specifier}, but ${pinned.version} was chosen for ${pinned.requiredBy.join(', ')}`);
        return false;
      }
      // `foo[all]` asking for `foo[a,b]` is the same pin with more extras: no criterion on itself.
      if (dep.name !== parent.name) addCriterion(state, dep, depth);
      const newExtras = pinned ? dep.extras.filter((e) => !pinned.extras.includes(e) && pinned.provides.has(normalizeName(e))) : [];
      if (pinned && newExtras.length > 0) {
        // An extra asked of a project already pinned brings its own dependencies.
        pinned.extras = [...pinned.extras, ...newExtras].sort();
        if (!this.addDependencies(state, pinned, pinned.deps, new Set(pinned.extras))) return false;
      }
    }
    return true;
  }

  /** Versions every requirement allows, best first, each with the file the target would install. */
  private async candidates(name: string, required: readonly Requirement[]): Promise<Candidate[]> {
    const constraints = this.constraints.get(name) ?? [];
    const criteria = [...required, ...constraints];
    const page = await this.page(name);
    const wanted = describeCriteria(name, required, constraints);
    if (!page) {
      this.failures.set(name, `${wanted}: no such project`);
      return [];
    }
    const { releases, versionOf } = releasesOf(page);
    const specifiers = criteria.map((r) => r.specifier).filter((s) => s !== '');
    const matching = releases.filter((r) => specifiers.every((s) => this.allows(s, r.version)));
    if (matching.length === 0) {
      this.failures.set(name, `${wanted}: no version matches (available: ${releases.slice(0, 10).map((r) => r.version).join(', ') || 'none'})`);
      return [];
    }
    const excluded: string[] = [];
    // What pip's finder keeps for the target: files whose Requires-Python admits it, wheels for its
    // tags (sdists when allowed). Only then does it filter versions, so the pre-release rule below
    // sees only versions the target can install.
    const found: { version: string; files: IndexFile[] }[] = [];
    for (const { version, files } of matching) {
      const usable = files.filter((f) => this.pythonAdmits(f.requiresPython));
      if (usable.length === 0) {
        excluded.push(`${page.displayName} ${version} requires Python ${files[0]!.requiresPython} (${this.target.name} has ${this.python})`);
        continue;
      }
      const installable = usable.filter((f) => this.bestFile([f]) !== null);
      if (installable.length === 0) {
        const sdistOnly = usable.some((f) => !f.filename.endsWith('.whl'));
        excluded.push(`${page.displayName} ${version} has no wheel for ${this.target.name}` +
          (sdistOnly ? ' (sdist only; --allow-sdist, or build one into the wheel cache)' : ''));
        continue;
      }
      found.push({ version, files: installable });
    }
    // packaging's filter: pre-releases when asked for or named by a specifier, else only when nothing final matches.
    const pre = this.opts.pre === true || specifiers.some((s) => this.kit.allowsPrereleases(s));
    let allowed = found.filter((r) => pre || !isPrerelease(r.version));
    if (allowed.length === 0) allowed = found;
    // PEP 592 as pip's factory applies it: yanked files only when every file found, over all the
    // allowed versions, is yanked and a requirement pins (`==2.0` skips a yanked `2.0+cpu` beside `2.0`).
    const pinned = criteria.some((r) => isPinned(r.specifier));
    const allYanked = allowed.every((r) => r.files.every((f) => f.yanked !== false));
    const out: Candidate[] = [];
    for (const { version, files } of allowed) {
      const offered = files.filter((f) => f.yanked === false || (allYanked && pinned));
      if (offered.length === 0) {
        excluded.push(`${page.displayName} ${version} is yanked (pin it with == to use it)`);
        continue;
      }
      const file = this.bestFile(offered)!;
      out.push({ version: versionOf.get(file)!, file });
    }
    if (out.length === 0) this.failures.set(name, excluded.slice(0, 3).join('; ') + (excluded.length > 3 ? ` (and ${excluded.length - 3} more)` : ''));
    return out;
  }

  /** The target's best wheel (tags.ts: tag order, then build tag), else an sdist when allowed. */
  private bestFile(files: readonly IndexFile[]): IndexFile | null {
    const wheel = bestWheel(files.map((f) => f.filename), this.target);
    if (wheel !== null) return files.find((f) => f.filename === wheel)!;
    if (!this.opts.allowSdist) return null;
    return files.find((f) => !f.filename.endsWith('.whl')) ?? null;
  }

  /** kit.contains with pre-releases, each specifier and version judged once: every step asks again of the projects still open. */
  private allows(specifier: string, version: string): boolean {
    const key = `${specifier}\u0000${version}`;
    let allowed = this.allowed.get(key);
    if (allowed === undefined) this.allowed.set(key, (allowed = this.kit.contains(specifier, version, true)));
    return allowed;
  }

  private pythonAdmits(requiresPython: string | null): boolean {
    if (!requiresPython) return true;
    // Most files of an index say one of a few things (`>=3.8`): judge each once.
    let admits = this.admits.get(requiresPython);
    if (admits === undefined) {
      try {
        admits = this.kit.contains(requiresPython, this.python, true);
      } catch {
        // pip ignores an invalid Requires-Python rather than the file.
        admits = true;
      }
      this.admits.set(requiresPython, admits);
    }
    return admits;
  }

  private fileMetadata(name: string, c: Candidate): Promise<FileMetadata> {
    const key = `${name}\u0000${c.file.filename}`;
    let meta = this.metadata.get(key);
    if (!meta) this.metadata.set(key, (meta = this.source.metadata(name, c.file)));
    return meta;
  }

  private page(name: string): Promise<ProjectPage | null> {
    let p = this.pages.get(name);
    if (!p) this.pages.set(name, (p = this.source.page(name)));
    return p;
  }
}

interface Releases {
  /** One entry per PEP 440 version, best first: the files of `1.0` and `1.0.0` compete together, as pip ranks them. */
  releases: { version: string; parsed: ParsedVersion; files: IndexFile[] }[];
  /** Each file's version as its filename spells it. */
  versionOf: Map<IndexFile, string>;
}

/**
 * A page's files by version, parsed once per page object: every step of a
 * search asks again for the projects still open, and the targets of one
 * plan share their pages (wheelhouse/source.ts memoizes them).
 */
const releasesCache = new WeakMap<ProjectPage, Releases>();

function releasesOf(page: ProjectPage): Releases {
  const cached = releasesCache.get(page);
  if (cached) return cached;
  const versionOf = new Map<IndexFile, string>();
  const parsed: { file: IndexFile; parsed: ParsedVersion }[] = [];
  // A release's files share its version string: parse each string once.
  const versions = new Map<string, ParsedVersion | null>();
  for (const f of page.files) {
    let version: string;
    try {
      version = parseDistFilename(f.filename).version;
    } catch {
      continue;
    }
    let p = versions.get(version);
    if (p === undefined) versions.set(version, (p = parseVersion(version)));
    if (p === null) continue;
    versionOf.set(f, version);
    parsed.push({ file: f, parsed: p });
  }
  parsed.sort((a, b) => compareParsed(b.parsed, a.parsed));
  const releases: Releases['releases'] = [];
  for (const { file, parsed: p } of parsed) {
    const last = releases.at(-1);
    if (last && compareParsed(last.parsed, p) === 0) last.files.push(file);
    else releases.push({ version: versionOf.get(file)!, parsed: p, files: [file] });
  }
  const result = { releases, versionOf };
  releasesCache.set(page, result);
  return result;
}

/** `depth`: the requiring pin's depth (0 for the user's requirements); pip keeps the shallowest. */
function addCriterion(state: State, r: Requirement, parentDepth: number): void {
  const name = normalizeName(r.name);
  const list = state.criteria.get(name);
  if (list) list.push(r);
  else state.criteria.set(name, [r]);
  state.depth.set(name, Math.min(state.depth.get(name) ?? Infinity, parentDepth + 1));
}

/** pinned?, depth, user order, free?, name: lower is decided first. */
type PreferenceKey = [number, number, number, number, string];

function comparePreference(a: PreferenceKey, b: PreferenceKey): number {
  for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return (a[i] as number) < (b[i] as number) ? -1 : 1;
  return a[4] < b[4] ? -1 : a[4] > b[4] ? 1 : 0;
}

function cloneState(s: State): State {
  return {
    pins: new Map([...s.pins].map(([k, v]) => [k, { ...v, extras: [...v.extras] }])),
    criteria: new Map([...s.criteria].map(([k, v]) => [k, [...v]])),
    depth: new Map(s.depth),
  };
}

/** pip's `is_pinned`: `===`, or `==` without a wildcard. */
function isPinned(specifier: string): boolean {
  return specifier.split(',').some((s) => {
    const t = s.trim();
    return t.startsWith('===') || (t.startsWith('==') && !t.endsWith('.*'));
  });
}

/**
 * Who asked for what, as pip's "The conflict is caused by": `bt-codec>=2
 * (required by requirements.txt:2) and bt-codec<2 (required by bt-tool 1.0)`.
 */
function describeCriteria(name: string, required: readonly Requirement[], constraints: readonly Requirement[]): string {
  const parts = new Map<string, string[]>();
  const add = (r: Requirement, how: string) => {
    const k = `${r.specifier}\u0000${how}`;
    const who = parts.get(k) ?? [];
    if (!who.includes(r.origin)) who.push(r.origin);
    parts.set(k, who);
  };
  for (const r of required) add(r, 'required by');
  for (const r of constraints) add(r, 'constrained by');
  return [...parts].map(([k, who]) => {
    const [spec, how] = k.split('\u0000');
    return `${name}${spec} (${how} ${who.join(', ')})`;
  }).join(' and ');
}
