/**
 * Project names (PEP 503 normalization, core-metadata `Name` validity).
 */

// Anchored with `$` but without the `m` flag, so unlike Python's `$` it cannot
// match before a trailing newline. ASCII only (no `u` flag), as packaging's
// `re.ASCII`: `ſ` or the Kelvin sign must not pass for `s`/`k`.
const VALID_NAME = /^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i;

/** PEP 503 normalized form, e.g. `Foo.Bar_baz` → `foo-bar-baz`; also the URL segment under `/simple/`. */
export function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

/**
 * No real project has a longer name: a wheel's filename carries the name
 * plus a version and three tags, and filesystems stop at 255 bytes. Checked
 * before any lookup, so a flood of huge random names costs nothing upstream.
 */
export const MAX_NAME_LENGTH = 200;

/** Whether `name` is a valid core-metadata `Name` (case-insensitive) of a sane length. */
export function isValidProjectName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && VALID_NAME.test(name);
}

/**
 * The name as it must appear in a PEP 625 sdist or PEP 427 wheel filename:
 * normalized, with `_` for separators, e.g. `Foo.Bar` → `foo_bar`.
 */
export function filenameSafeName(name: string): string {
  return normalizeName(name).replace(/-/g, '_');
}
