/**
 * Per-view file filters (`files:` on a remote or virtual repository, the
 * rules in src/pypi/file-filter.ts) applied to what a repository serves:
 * its pages, and the 404 of a filtered file's URL. Pure.
 *
 * A filter judges upstream files only: a remote's own, and a virtual
 * repository's remote members' (never its local or wheelcache files). A
 * virtual repository reached through another one is judged by the filters
 * of every virtual repository on the way: a file is kept when one way to it
 * keeps it.
 */
import { compileFileFilter, type FileFilter, type FileFilterSpec } from '../pypi/file-filter.ts';
import type { IndexFile, ProjectPage } from '../pypi/pages.ts';
import { canonicalVersion } from '../pypi/versions.ts';

/** A repository's compiled filter, with its name for the reasons it gives. */
export interface NamedFilter {
  repo: string;
  filter: FileFilter;
}

export function namedFilter(repo: string, spec: FileFilterSpec | null): NamedFilter | null {
  return spec === null ? null : { repo, filter: compileFileFilter(spec) };
}

/** Why a chain of filters drops the file (the first that does), or null when each keeps it. */
export function filterReason(chain: readonly NamedFilter[], filename: string, requiresPython: string | null): string | null {
  for (const { repo, filter } of chain) {
    const ex = filter.exclusion(filename, requiresPython);
    if (ex) return `'${filename}' is filtered out of repository '${repo}' by its files filter (${ex.key}: ${ex.setting})`;
  }
  return null;
}

/** Like filterReason over several ways to a file: null when one of them keeps it, else the first way's reason. */
export function chainsReason(chains: readonly (readonly NamedFilter[])[], filename: string, requiresPython: string | null): string | null {
  let first: string | null = null;
  for (const chain of chains) {
    const reason = filterReason(chain, filename, requiresPython);
    if (reason === null) return null;
    first ??= reason;
  }
  return first;
}

/**
 * The page without the files `keep` refuses. A version all of whose files
 * are dropped leaves `versions` too; one that had no file stays, as the
 * upstream listed it. The same page object when nothing is dropped.
 */
export function filterPage(page: ProjectPage, keep: (f: IndexFile) => boolean): ProjectPage {
  const files = page.files.filter(keep);
  if (files.length === page.files.length) return page;
  const canonical = new Map<string, string | null>();
  const versionOf = (raw: string | null): string | null => {
    if (raw === null) return null;
    let c = canonical.get(raw);
    if (c === undefined) canonical.set(raw, (c = canonicalVersion(raw)));
    return c;
  };
  const had = new Set(page.files.map((f) => versionOf(rawVersion(f.filename))));
  const has = new Set(files.map((f) => versionOf(rawVersion(f.filename))));
  // Pages list versions as the upstream spells them, file names as uploaded:
  // both are compared in one spelling.
  const versions = page.versions.filter((v) => {
    const c = versionOf(v);
    return has.has(c) || !had.has(c);
  });
  return { ...page, files, versions };
}

/** The version part of a wheel or sdist name, unchecked (index pages hold names their parser checked). */
function rawVersion(filename: string): string | null {
  if (filename.endsWith('.whl')) return filename.split('-')[1] ?? null;
  const stem = filename.replace(/\.(tar\.gz|zip)$/, '');
  const dash = stem.lastIndexOf('-');
  return dash > 0 ? stem.slice(dash + 1) : null;
}
