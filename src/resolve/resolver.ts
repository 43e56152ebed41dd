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
 * - pre-releases only when a specifier names one, when asked for, or when no
 *   final release matches (packaging's SpecifierSet.filter);
 * - yanked files only when every remaining file is yanked and a requirement
 *   pins the version with `==` (PEP 592, pip's `is_pinned`);
 * - a file is usable when its Requires-Python admits the target's Python and
 *   it is a wheel for one of the target's tags (the best tag wins), or an
 *   sdist when sdists are allowed;
 * - dependencies are the chosen file's Requires-Dist whose markers hold for
 *   the target and the extras asked of the project;
 * - on a conflict the search backtracks to the last choice and tries the
 *   next candidate (depth first), up to a step budget.
 */
import { normalizeName } from '../pypi/names.ts';
import type { IndexFile, ProjectPage } from '../pypi/pages.ts';
import { parseDistFilename } from '../pypi/filenames.ts';
import { compareVersions, isPrerelease, isValidVersion } from '../pypi/versions.ts';
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

export interface ResolverSource {
  /** The project's page, or null when no repository has it. */
  page(project: string): Promise<ProjectPage | null>;
  /** The core metadata (METADATA text) of one file of the page. */
  metadata(project: string, file: IndexFile): Promise<{ requiresDist: string[]; requiresPython: string | null }>;
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

interface State {
  pins: Map<string, Pin & { deps: Requirement[] }>;
  /** Every requirement on each project, in the order they were met. */
  criteria: Map<string, Requirement[]>;
  /** When a project was first required (breadth order, as pip's depth preference). */
  order: Map<string, number>;
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
  private readonly metadata = new Map<string, Promise<{ requiresDist: string[]; requiresPython: string | null }>>();
  /** Why each project had no candidate the last time it was tried. */
  private readonly failures = new Map<string, string>();
  private readonly python: string;
  private readonly constraints = new Map<string, Requirement[]>();

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
    const state: State = { pins: new Map(), criteria: new Map(), order: new Map() };
    const applicable = roots.filter((r) => !r.applies || r.applies(this.target.env, new Set()));
    for (const r of applicable) addCriterion(state, r);
    const solved = await this.solve(state);
    if (!solved) {
      const reasons = [...this.failures.values()];
      throw new ResolutionImpossible(this.target.name, reasons.length > 0 ? reasons : ['the requirements conflict']);
    }
    return [...solved.pins.values()]
      .map(({ deps: _deps, ...pin }) => pin)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Depth first: choose a project, try its candidates best first, recurse; null when nothing works. */
  private async solve(state: State): Promise<State | null> {
    const name = this.next(state);
    if (name === null) return state;
    const criteria = state.criteria.get(name)!;
    const candidates = await this.candidates(name, criteria);
    for (const c of candidates) {
      if (++this.steps > this.maxSteps) {
        throw new ResolutionImpossible(this.target.name, [`gave up after trying ${this.maxSteps} candidates; pin more versions`]);
      }
      const next = cloneState(state);
      if (!(await this.pin(next, name, c))) continue;
      const solved = await this.solve(next);
      if (solved) return solved;
    }
    return null;
  }

  /**
   * The next project to decide: pip prefers pinned (`==`) requirements, then
   * the shallowest, then the order they were met, then the name.
   */
  private next(state: State): string | null {
    let best: string | null = null;
    let bestKey: [number, number, string] | null = null;
    for (const [name, reqs] of state.criteria) {
      if (state.pins.has(name)) continue;
      const key: [number, number, string] = [reqs.some((r) => /(^|,)\s*===?/.test(r.specifier)) ? 0 : 1, state.order.get(name)!, name];
      if (!bestKey || key[0] < bestKey[0] || (key[0] === bestKey[0] && (key[1] < bestKey[1] || (key[1] === bestKey[1] && key[2] < bestKey[2])))) {
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
    const extras = [...new Set(criteria.flatMap((r) => r.extras))].sort();
    const deps = await this.dependencies(name, c, page.displayName);
    state.pins.set(name, {
      name, displayName: page.displayName, version: c.version, file: c.file, extras,
      requiredBy: [...new Set(criteria.map((r) => r.origin))], deps,
    });
    return this.addDependencies(state, name, deps, new Set(extras));
  }

  private addDependencies(state: State, name: string, deps: readonly Requirement[], extras: ReadonlySet<string>): boolean {
    for (const dep of deps) {
      if (dep.applies && !dep.applies(this.target.env, extras)) continue;
      if (dep.name === name) continue; // `foo[bar]` depending on `foo`: the same pin
      const pinned = state.pins.get(dep.name);
      if (pinned && !this.kit.contains(dep.specifier, pinned.version, true)) {
        this.failures.set(dep.name, `${dep.origin} requires ${dep.name}${dep.specifier}, but ${pinned.version} was chosen for ${pinned.requiredBy.join(', ')}`);
        return false;
      }
      const newExtras = pinned ? dep.extras.filter((e) => !pinned.extras.includes(e)) : [];
      addCriterion(state, dep);
      if (pinned && newExtras.length > 0) {
        // An extra asked of a project already pinned brings its own dependencies.
        pinned.extras = [...pinned.extras, ...newExtras].sort();
        if (!this.addDependencies(state, dep.name, pinned.deps, new Set(pinned.extras))) return false;
      }
    }
    return true;
  }

  /** Versions every requirement allows, best first, each with the file the target would install. */
  private async candidates(name: string, required: readonly Requirement[]): Promise<Candidate[]> {
    const criteria = [...required, ...(this.constraints.get(name) ?? [])];
    const page = await this.page(name);
    const wanted = describeCriteria(name, criteria);
    if (!page) {
      this.failures.set(name, `${wanted}: no such project`);
      return [];
    }
    const byVersion = new Map<string, IndexFile[]>();
    for (const f of page.files) {
      let version: string;
      try {
        version = parseDistFilename(f.filename).version;
      } catch {
        continue;
      }
      if (!isValidVersion(version)) continue;
      const list = byVersion.get(version);
      if (list) list.push(f);
      else byVersion.set(version, [f]);
    }
    const versions = [...byVersion.keys()].sort((a, b) => compareVersions(b, a));
    const specifiers = criteria.map((r) => r.specifier).filter((s) => s !== '');
    const matches = (v: string, pre: boolean): boolean => (pre || !isPrerelease(v)) && specifiers.every((s) => this.kit.contains(s, v, pre));
    // packaging's filter: pre-releases when asked for or named by a specifier, else only when nothing final matches.
    let allowed = versions.filter((v) => matches(v, this.opts.pre === true || specifiers.some((s) => this.kit.allowsPrereleases(s))));
    if (allowed.length === 0) allowed = versions.filter((v) => matches(v, true));
    if (allowed.length === 0) {
      this.failures.set(name, `${wanted}: no version matches (available: ${versions.slice(0, 10).join(', ') || 'none'})`);
      return [];
    }
    const pinned = criteria.some((r) => isPinned(r.specifier));
    const out: Candidate[] = [];
    const excluded: string[] = [];
    for (const version of allowed) {
      const files = byVersion.get(version)!;
      const usable = files.filter((f) => this.pythonAdmits(f.requiresPython));
      if (usable.length === 0) {
        excluded.push(`${page.displayName} ${version} requires Python ${files[0]!.requiresPython} (${this.target.name} has ${this.python})`);
        continue;
      }
      const allYanked = usable.every((f) => f.yanked !== false);
      const offered = usable.filter((f) => f.yanked === false || (allYanked && pinned));
      if (offered.length === 0) {
        excluded.push(`${page.displayName} ${version} is yanked (pin it with == to use it)`);
        continue;
      }
      const file = this.bestFile(offered);
      if (!file) {
        const sdistOnly = offered.some((f) => !f.filename.endsWith('.whl'));
        excluded.push(`${page.displayName} ${version} has no wheel for ${this.target.name}` +
          (sdistOnly ? ' (sdist only; --allow-sdist, or build one into the wheel cache)' : ''));
        continue;
      }
      out.push({ version, file });
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

  private pythonAdmits(requiresPython: string | null): boolean {
    if (!requiresPython) return true;
    try {
      return this.kit.contains(requiresPython, this.python, true);
    } catch {
      // pip ignores an invalid Requires-Python rather than the file.
      return true;
    }
  }

  private async dependencies(name: string, c: Candidate, displayName: string): Promise<Requirement[]> {
    const key = `${name}\u0000${c.file.filename}`;
    let meta = this.metadata.get(key);
    if (!meta) this.metadata.set(key, (meta = this.source.metadata(name, c.file)));
    const { requiresDist } = await meta;
    return requiresDist.map((text) => this.kit.parseRequirement(text, `${displayName} ${c.version}`));
  }

  private page(name: string): Promise<ProjectPage | null> {
    let p = this.pages.get(name);
    if (!p) this.pages.set(name, (p = this.source.page(name)));
    return p;
  }
}

function addCriterion(state: State, r: Requirement): void {
  const name = normalizeName(r.name);
  const list = state.criteria.get(name);
  if (list) list.push(r);
  else state.criteria.set(name, [r]);
  if (!state.order.has(name)) state.order.set(name, state.order.size);
}

function cloneState(s: State): State {
  return {
    pins: new Map([...s.pins].map(([k, v]) => [k, { ...v, extras: [...v.extras] }])),
    criteria: new Map([...s.criteria].map(([k, v]) => [k, [...v]])),
    order: new Map(s.order),
  };
}

/** pip's `is_pinned`: `===`, or `==` without a wildcard. */
function isPinned(specifier: string): boolean {
  return specifier.split(',').some((s) => {
    const t = s.trim();
    return t.startsWith('===') || (t.startsWith('==') && !t.endsWith('.*'));
  });
}

function describeCriteria(name: string, criteria: readonly Requirement[]): string {
  const specs = [...new Set(criteria.map((r) => r.specifier).filter(Boolean))].join(',');
  const who = [...new Set(criteria.map((r) => r.origin))].join(', ');
  return `${name}${specs} (required by ${who})`;
}
