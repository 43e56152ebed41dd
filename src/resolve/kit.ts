/**
 * The resolver's rules from the modules that own them: PEP 440 specifiers
 * (src/pypi/specifiers.ts), PEP 508 requirements and markers
 * (requirements.ts, markers.ts). The resolver itself stays a search.
 */
import { InvalidRequirement } from '../errors.ts';
import { matchesSpecifier, parseSpecifierSet, setImpliesPrereleases } from '../pypi/specifiers.ts';
import { parseRequirement, type Requirement } from './requirements.ts';
import type { Requirement as Need, ResolverKit } from './resolver.ts';

/** A parsed requirement as the resolver needs it; `origin` names where it came from in messages. */
export function need(r: Requirement, origin: string): Need {
  if (r.url !== null) {
    throw new InvalidRequirement(`${origin}: '${r.name} @ ${r.url}' is a direct URL; pydepot resolves from the index only`);
  }
  const marker = r.marker;
  return {
    name: r.normalizedName,
    extras: r.extras,
    specifier: r.specifier,
    applies: marker ? (env, extras) => marker.evaluate(env, extras) : null,
    origin,
  };
}

export const PIP_RULES: ResolverKit = {
  contains: (specifier, version, prereleases) => matchesSpecifier(version, specifier, { prereleases }),
  allowsPrereleases: (specifier) => {
    const set = parseSpecifierSet(specifier);
    return set !== null && setImpliesPrereleases(set);
  },
  parseRequirement: (text, origin) => need(parseRequirement(text), origin),
};
