/**
 * The dependency-confusion rule, in one place. A merged index that lets a
 * public upload outrank an internal name hands every node the attacker's
 * code (the 2021 attack on Artifactory-style merges); clients cannot help,
 * since pip merges indexes without priority and PEP 708 was rejected. So the
 * server decides, per project, whether upstream files may be merged at all.
 */
import picomatch from 'picomatch';
import { normalizeName } from '../pypi/names.ts';

export interface ConfusionPolicy {
  /** Does the normalized name match one of the `internal` patterns? */
  matchesInternal(name: string): boolean;
  /** Normalized names listed in `mergeUpstream`. */
  mergeUpstream: ReadonlySet<string>;
}

/** Why upstream members are left out of a project. */
export type SkipReason = 'hosted' | 'internal-pattern';

export type UpstreamDecision = { merge: true } | { merge: false; reason: SkipReason };

/**
 * May remote members contribute files to `name`? `hostedLocally`: a local
 * member reachable from the virtual repository holds the project.
 */
export function decideUpstream(name: string, hostedLocally: boolean, policy: ConfusionPolicy): UpstreamDecision {
  if (policy.mergeUpstream.has(name)) return { merge: true };
  if (hostedLocally) return { merge: false, reason: 'hosted' };
  if (policy.matchesInternal(name)) return { merge: false, reason: 'internal-pattern' };
  return { merge: true };
}

/**
 * Patterns are matched against normalized names, so they are normalized the
 * same way: `Acme_*` and `acme-*` mean the same thing.
 */
export function normalizePattern(pattern: string): string {
  return pattern.toLowerCase().replace(/[-_.]+/g, '-');
}

export function compilePolicy(internal: readonly string[], mergeUpstream: readonly string[]): ConfusionPolicy {
  const matchers = internal.map((p) => picomatch(normalizePattern(p), { nobrace: false, dot: true }));
  return {
    matchesInternal: (name) => matchers.some((m) => m(name)),
    mergeUpstream: new Set(mergeUpstream.map(normalizeName)),
  };
}
