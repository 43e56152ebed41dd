/**
 * Distribution filenames: the storage-safety check and the wheel (PEP 427)
 * and sdist (PEP 625) parsers, following packaging.utils.
 */
import { BadRequest, InvalidDistribution } from '../errors.ts';
import { isValidProjectName, normalizeName } from './names.ts';
import { isValidVersion, versionsEqual } from './versions.ts';

export type DistFilename =
  | {
    kind: 'wheel'; filename: string; name: string; normalizedName: string; version: string;
    buildTag: string | null; pythonTags: string[]; abiTags: string[]; platformTags: string[];
  }
  | {
    kind: 'sdist'; filename: string; name: string; normalizedName: string; version: string;
    format: 'tar.gz' | 'zip';
  };

/** The filesystem limit (NAME_MAX) is in bytes, not characters. */
const MAX_FILENAME_BYTES = 255;

// packaging accepts any Unicode `\w`; a project name is ASCII anyway, so a
// non-ASCII wheel name could never match a project.
const WHEEL_NAME = /^[A-Za-z0-9_.]+$/;

/**
 * Renders a user-supplied string for an error message: non-printable and
 * non-ASCII characters are escaped, so the message stays one line and safe for
 * an HTTP reason phrase.
 */
function quote(s: string): string {
  const escaped = s.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `'${escaped}'`;
}

/**
 * Throws BadRequest unless `filename` is safe to use as one path component
 * (rules and wording from warehouse's `_validate_filename`, plus the
 * traversal and length checks a filesystem store needs).
 */
export function checkSafeFilename(filename: string): void {
  if (filename === '') {
    throw new BadRequest('Cannot upload a file with an empty name.');
  }
  if (/[\x00-\x1f\x7f]/.test(filename)) {
    throw new BadRequest(
      'Cannot upload a file with non-printable characters (ordinals 0-31) or the DEL character (ordinal 127) in the name.',
    );
  }
  if (filename.includes('/') || filename.includes('\\')) {
    throw new BadRequest("Cannot upload a file with '/' or '\\' in the name.");
  }
  if (filename.includes('..')) {
    throw new BadRequest("Cannot upload a file with '..' in the name.");
  }
  // A leading dot would make a hidden file, and `.` names the directory itself.
  if (filename.startsWith('.')) {
    throw new BadRequest("Cannot upload a file whose name starts with '.'.");
  }
  if (Buffer.byteLength(filename, 'utf8') > MAX_FILENAME_BYTES) {
    throw new BadRequest(`Cannot upload a file with a name longer than ${MAX_FILENAME_BYTES} bytes.`);
  }
}

function parseWheelFilename(filename: string): DistFilename {
  const bad = (reason: string): InvalidDistribution =>
    new InvalidDistribution(`Invalid wheel filename ${quote(filename)}: ${reason}`);

  const parts = filename.slice(0, -'.whl'.length).split('-');
  if (parts.length !== 5 && parts.length !== 6) {
    throw bad('expected {name}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}.whl (PEP 427).');
  }
  const name = parts[0] ?? '';
  const version = parts[1] ?? '';
  if (!WHEEL_NAME.test(name) || name.includes('__') || !isValidProjectName(name)) {
    throw bad(`invalid project name ${quote(name)}: use the normalized name with '_' for separators, e.g. 'foo_bar'.`);
  }
  if (!isValidVersion(version)) {
    throw bad(`${quote(version)} is not a valid PEP 440 version (write any '-' in the project name as '_').`);
  }
  const buildTag = parts.length === 6 ? (parts[2] ?? '') : null;
  if (buildTag !== null && !/^[0-9]/.test(buildTag)) {
    throw bad(`build tag ${quote(buildTag)} must start with a digit.`);
  }
  const [pythonTags, abiTags, platformTags] = parts.slice(-3).map((t) => t.split('.'));
  if (pythonTags === undefined || abiTags === undefined || platformTags === undefined
    || [...pythonTags, ...abiTags, ...platformTags].some((t) => t === '')) {
    throw bad('empty compatibility tag (PEP 425).');
  }
  return {
    kind: 'wheel', filename, name, normalizedName: normalizeName(name), version,
    buildTag, pythonTags, abiTags, platformTags,
  };
}

function parseSdistFilename(filename: string, format: 'tar.gz' | 'zip'): DistFilename {
  const bad = (reason: string): InvalidDistribution =>
    new InvalidDistribution(`Invalid sdist filename ${quote(filename)}: ${reason}`);

  const stem = filename.slice(0, -(format.length + 1));
  // A PEP 440 version has no dash once normalized, so the last one separates
  // name and version. `foo-1.0-1.tar.gz` (implicit post-release) therefore
  // reads as name `foo-1.0`, version `1`, exactly as packaging reads it.
  const dash = stem.lastIndexOf('-');
  if (dash < 0) {
    throw bad(`expected {name}-{version}.${format}.`);
  }
  const name = stem.slice(0, dash);
  const version = stem.slice(dash + 1);
  if (!isValidVersion(version)) {
    throw bad(`${quote(version)} is not a valid PEP 440 version.`);
  }
  if (!isValidProjectName(name)) {
    throw bad(`${quote(name)} is not a valid project name.`);
  }
  return { kind: 'sdist', filename, name, normalizedName: normalizeName(name), version, format };
}

/**
 * Parses a wheel or sdist filename; throws BadRequest for unsafe names and
 * InvalidDistribution for anything that is not a well-formed wheel or sdist.
 * Only the form is checked: that the name and version match the upload, and
 * PEP 625/427 normalization, are the caller's policy.
 */
export function parseDistFilename(filename: string): DistFilename {
  checkSafeFilename(filename);
  if (filename.endsWith('.whl')) return parseWheelFilename(filename);
  if (filename.endsWith('.tar.gz')) return parseSdistFilename(filename, 'tar.gz');
  if (filename.endsWith('.zip')) return parseSdistFilename(filename, 'zip');
  throw new InvalidDistribution(
    'Invalid file extension: use .whl for wheels or .tar.gz/.zip for sdists (PEP 527, PEP 715).',
  );
}

/** Whether the file belongs to release `name` `version` (PEP 503 name, PEP 440 version equality). */
export function fileMatchesRelease(parsed: DistFilename, name: string, version: string): boolean {
  return parsed.normalizedName === normalizeName(name) && versionsEqual(parsed.version, version);
}
