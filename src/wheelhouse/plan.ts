/**
 * A wheelhouse plan: requirements resolved against one repository for each
 * target, as pip on that target would resolve them, or a PEP 751 lock's
 * files found in it. Export, prefetch and the HTTP endpoint all start here.
 */
import type { IndexFile, ProjectPage } from '../pypi/pages.ts';
import { selectFromLock, type LockSelection, type Pylock } from '../resolve/pylock.ts';
import type { ParsedRequirements } from '../resolve/requirements.ts';
import { need } from '../resolve/kit.ts';
import { PIP_RULES } from '../resolve/kit.ts';
import { resolve, ResolutionImpossible, type Pin, type ResolveOptions, type ResolverSource } from '../resolve/resolver.ts';
import type { Target } from '../resolve/tags.ts';
import type { Repository } from '../repos/types.ts';
import { memoizedSource, repositorySource } from './source.ts';

export interface TargetPlan {
  target: Target;
  pins: Pin[];
}

export interface Plan {
  /** The repository's name (or the index URL) resolved in. */
  repo: string;
  targets: TargetPlan[];
  /** Per target that could not be resolved: the reasons, one line each. */
  failures: { target: string; reasons: string[] }[];
}

/**
 * Resolves `reqs` for every target. Constraints (`-c`) narrow a project's
 * versions without requiring it, as pip's do: they join the requirements of
 * projects that something requires. `--pre` in the file counts as opts.pre.
 */
export async function planWheelhouse(repo: Repository, reqs: ParsedRequirements, targets: readonly Target[], opts: ResolveOptions = {}): Promise<Plan> {
  return planFrom(repositorySource(repo), repo.name, reqs, targets, opts);
}

/** The same over any source (an index read over HTTP: index-source.ts); `label` names it in the plan. */
export async function planFrom(source: ResolverSource, label: string, reqs: ParsedRequirements, targets: readonly Target[], opts: ResolveOptions = {}): Promise<Plan> {
  // The targets share each page and file's metadata: read once, not once per target.
  const shared = memoizedSource(source);
  const roots = reqs.requirements.map((r) => need(r, `${r.origin.file}:${r.origin.line}`));
  const constraints = reqs.constraints.map((r) => need(r, `${r.origin.file}:${r.origin.line}`));
  const plan: Plan = { repo: label, targets: [], failures: [] };
  for (const target of targets) {
    try {
      const pins = await resolve(roots, target, shared, PIP_RULES, { ...opts, pre: opts.pre || reqs.options.pre, constraints });
      const refused = hashMismatches(reqs, pins, target);
      if (refused.length > 0) plan.failures.push({ target: target.name, reasons: refused });
      else plan.targets.push({ target, pins });
    } catch (err) {
      if (!(err instanceof ResolutionImpossible)) throw err;
      plan.failures.push({ target: target.name, reasons: err.reasons });
    }
  }
  return plan;
}

/**
 * `--hash=sha256:` options of the requirements that the chosen files do not
 * match: pip in hash-checking mode would refuse them on the node. Only
 * sha256 is compared (the index gives no other digest); a requirement with
 * only sha384/sha512 hashes is not checked.
 */
function hashMismatches(reqs: ParsedRequirements, pins: readonly Pin[], target: Target): string[] {
  const reasons: string[] = [];
  for (const r of reqs.requirements) {
    const sha256 = r.hashes.filter((h) => h.startsWith('sha256:'));
    if (sha256.length === 0) continue;
    const pin = pins.find((p) => p.name === r.normalizedName);
    if (!pin || sha256.includes(`sha256:${pin.file.sha256}`)) continue;
    reasons.push(`${r.origin.file}:${r.origin.line}: the --hash given for ${r.normalizedName} matches no file chosen for ${target.name} (${pin.file.filename} has sha256:${pin.file.sha256})`);
  }
  return reasons;
}

/**
 * What a lock installs on each target (src/resolve/pylock.ts
 * `selectFromLock`), each chosen file found in `repo` by its file name and
 * sha256. Nothing is resolved: a lock is exact. The lock's `url`, `path`
 * and `index` are not read; the repository is the only source, and the
 * lock's sha256 decides that its file is the one meant:
 * - a file name the repository does not hold (or a project it does not
 *   have) is a reason naming the package, the file and the hash;
 * - a file name it holds with another sha256 is refused: the file was
 *   replaced, or the lock altered;
 * - a lock's file without a sha256 cannot be checked, so it is refused.
 * The per-target reasons go to `failures`, as for requirements.
 */
export async function planFromLock(repo: Repository, lock: Pylock, targets: readonly Target[], opts: { allowSdist?: boolean } = {}): Promise<Plan> {
  const source = memoizedSource(repositorySource(repo));
  const plan: Plan = { repo: repo.name, targets: [], failures: [] };
  for (const target of targets) {
    const { selected, reasons } = selectFromLock(lock, target, { allowSdist: opts.allowSdist === true });
    const pins: Pin[] = [];
    for (const s of reasons.length > 0 ? [] : selected) {
      const found = await lockedFile(repo.name, s, await source.page(s.package.name), lock.name);
      if (typeof found === 'string') reasons.push(found);
      else pins.push({ name: s.package.name, displayName: found.page.displayName, version: s.package.version!, file: found.file, extras: [], requiredBy: [`${lock.name}:${s.package.key}`] });
    }
    if (reasons.length > 0) plan.failures.push({ target: target.name, reasons });
    else plan.targets.push({ target, pins });
  }
  return plan;
}

/** The repository's file for a lock's choice, or why there is none. */
async function lockedFile(repoName: string, s: LockSelection, page: ProjectPage | null, lockName: string): Promise<{ page: ProjectPage; file: IndexFile } | string> {
  const { package: p, file: f } = s;
  const what = `${p.name} ${p.version} (${lockName} ${f.key})`;
  const sha256 = f.hashes.sha256;
  if (sha256 === undefined) {
    return `${what}: ${f.filename} has no sha256 among its hashes (${Object.keys(f.hashes).join(', ')}); pydepot finds and checks files by sha256`;
  }
  if (page === null) return `${what}: ${f.filename} (sha256 ${sha256}) is not in '${repoName}': it has no project ${p.name}`;
  const file = page.files.find((x) => x.filename === f.filename);
  if (!file) {
    const same = page.files.find((x) => x.sha256 === sha256);
    const aside = same ? `; a file with that sha256 is there as ${same.filename}` : '';
    return `${what}: ${f.filename} (sha256 ${sha256}) is not in '${repoName}'${aside}`;
  }
  if (file.sha256 !== sha256) {
    return `${what}: refused: ${f.filename} in '${repoName}' has sha256 ${file.sha256}, but the lock says ${sha256}; the file was replaced or the lock altered`;
  }
  if (f.size !== null && f.size !== file.size) {
    return `${what}: ${f.filename} has ${file.size} bytes in '${repoName}', but the lock says ${f.size} for the same sha256; the lock is inconsistent`;
  }
  return { page, file };
}
