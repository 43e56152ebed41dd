/**
 * A wheelhouse plan: requirements resolved against one repository for each
 * target, as pip on that target would resolve them. Export, prefetch and the
 * HTTP endpoint all start here.
 */
import type { ParsedRequirements } from '../resolve/requirements.ts';
import { need } from '../resolve/kit.ts';
import { PIP_RULES } from '../resolve/kit.ts';
import { resolve, ResolutionImpossible, type Pin, type ResolveOptions } from '../resolve/resolver.ts';
import type { Target } from '../resolve/tags.ts';
import type { Repository } from '../repos/types.ts';
import { repositorySource } from './source.ts';

export interface TargetPlan {
  target: Target;
  pins: Pin[];
}

export interface Plan {
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
  const source = repositorySource(repo);
  const roots = reqs.requirements.map((r) => need(r, `${r.origin.file}:${r.origin.line}`));
  const constraints = reqs.constraints.map((r) => need(r, `${r.origin.file}:${r.origin.line}`));
  const plan: Plan = { repo: repo.name, targets: [], failures: [] };
  for (const target of targets) {
    try {
      const pins = await resolve(roots, target, source, PIP_RULES, { ...opts, pre: opts.pre || reqs.options.pre, constraints });
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
