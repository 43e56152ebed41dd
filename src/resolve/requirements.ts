/**
 * Requirements: one PEP 508 dependency specifier (`requests[socks]>=2.31; python_version >= "3.8"`),
 * and pip's requirements-file format around it (comments, continuations,
 * `-r`/`-c` includes, `--hash`), keeping only what pydepot can honour on
 * the server and refusing the rest with the file and line.
 *
 * Pure: included files are read through the caller's `readFile`.
 *
 * The single-requirement grammar is packaging 26.2's (its tokenizer and
 * recursive descent, quirks included: `foo_` is a name, a trailing comma in
 * the specifier is allowed). The file format follows pip 23.2's
 * `req_file.py`: the same line joining, comment stripping, the split between
 * requirement and options at the first word starting with `-`, shlex and
 * optparse for the options (long options may be abbreviated), and
 * the marker split at the first `;`.
 */
import { InvalidRequirement } from '../errors.ts';
import { normalizeName } from '../pypi/names.ts';
import { parseSpecifierSet, specifierSetToString, type SpecifierSet } from '../pypi/specifiers.ts';
import { Marker, parseMarkerList } from './markers.ts';
import { SyntaxErrorAt, Tokenizer, describeSyntaxError } from './tokenizer.ts';

export interface Requirement {
  /** As written. */
  name: string;
  /** PEP 503 (`Foo.Bar` → `foo-bar`). */
  normalizedName: string;
  /** PEP 685-normalized, sorted, without duplicates. */
  extras: string[];
  /** packaging's `str(SpecifierSet)`: sorted, comma-joined, '' for any version. */
  specifier: string;
  specifiers: SpecifierSet;
  /** The `name @ url` form; never set on a requirements-file `Req` (refused there). */
  url: string | null;
  marker: Marker | null;
}

// --- One requirement (PEP 508) ------------------------------------------------

interface RawRequirement {
  name: string;
  url: string;
  extras: string[];
  specifier: string;
  marker: ReturnType<typeof parseMarkerList> | null;
}

function parseExtras(t: Tokenizer): string[] {
  if (!t.check('LEFT_BRACKET', true)) return [];
  return t.enclosing('LEFT_BRACKET', 'RIGHT_BRACKET', 'extras', () => {
    t.consume('WS');
    const extras: string[] = [];
    if (t.check('IDENTIFIER')) {
      extras.push(t.read().text);
      for (;;) {
        t.consume('WS');
        if (t.check('IDENTIFIER', true)) t.fail('Expected comma between extra names');
        if (!t.check('COMMA')) break;
        t.read();
        t.consume('WS');
        extras.push(t.expect('IDENTIFIER', 'extra name after comma').text);
      }
    }
    t.consume('WS');
    return extras;
  });
}

function parseVersionMany(t: Tokenizer): string {
  let specifier = '';
  while (t.check('SPECIFIER')) {
    const start = t.position;
    specifier += t.read().text;
    if (t.check('VERSION_PREFIX_TRAIL', true)) {
      t.fail('.* suffix can only be used with `==` or `!=` operators', start, t.position + 1);
    }
    if (t.check('VERSION_LOCAL_LABEL_TRAIL', true)) {
      t.fail('Local version label can only be used with `==` or `!=` operators', start, t.position);
    }
    t.consume('WS');
    if (!t.check('COMMA')) break;
    specifier += t.read().text;
    t.consume('WS');
  }
  return specifier;
}

function parseRequirementMarker(t: Tokenizer, spanStart: number, expected: string): RawRequirement['marker'] {
  if (!t.check('SEMICOLON')) t.fail(`Expected ${expected} or end`, spanStart);
  t.read();
  const marker = parseMarkerList(t);
  t.consume('WS');
  return marker;
}

function parseRaw(source: string): RawRequirement {
  const t = new Tokenizer(source);
  t.consume('WS');
  const name = t.expect('IDENTIFIER', 'package name at the start of dependency specifier').text;
  t.consume('WS');
  const extras = parseExtras(t);
  t.consume('WS');
  let url = '';
  let specifier = '';
  let marker: RawRequirement['marker'] = null;
  if (t.check('AT')) {
    t.read();
    t.consume('WS');
    const urlStart = t.position;
    url = t.expect('URL', 'URL after @').text;
    if (!t.check('END', true)) {
      t.expect('WS', 'whitespace after URL');
      if (!t.check('END', true)) marker = parseRequirementMarker(t, urlStart, 'semicolon (after URL and whitespace)');
    }
  } else {
    const specStart = t.position;
    specifier = t.enclosing('LEFT_PARENTHESIS', 'RIGHT_PARENTHESIS', 'version specifier', () => {
      t.consume('WS');
      const s = parseVersionMany(t);
      t.consume('WS');
      return s;
    });
    t.consume('WS');
    if (!t.check('END', true)) {
      marker = parseRequirementMarker(t, specStart, specifier
        ? 'comma (within version specifier), semicolon (after version specifier)'
        : 'semicolon (after name with no version specifier)');
    }
  }
  t.expect('END', 'end of dependency specifier');
  return { name, url, extras, specifier, marker };
}

/** The reason `text` is not a PEP 508 requirement, or the requirement. */
function tryParseRequirement(text: string): Requirement | string {
  let raw: RawRequirement;
  try {
    raw = parseRaw(text);
  } catch (e) {
    if (e instanceof SyntaxErrorAt) return describeSyntaxError(e);
    if (e instanceof InvalidRequirement) return e.message;
    throw e;
  }
  // The tokens matched the specifier grammar, so the set is valid.
  const specifiers = parseSpecifierSet(raw.specifier) as SpecifierSet;
  return {
    name: raw.name,
    normalizedName: normalizeName(raw.name),
    extras: [...new Set(raw.extras.map(normalizeName))].sort(),
    specifier: specifierSetToString(specifiers),
    specifiers,
    url: raw.url === '' ? null : raw.url,
    marker: raw.marker === null ? null : Marker.fromTree(raw.marker),
  };
}

/**
 * One PEP 508 dependency specifier, as in core metadata's `Requires-Dist`.
 * Throws InvalidRequirement (`invalid requirement 'foo>=': Expected ... (column 4)`).
 */
export function parseRequirement(text: string): Requirement {
  const r = tryParseRequirement(text);
  if (typeof r === 'string') throw new InvalidRequirement(`invalid requirement '${text}': ${r}`);
  return r;
}

// --- Requirements files ------------------------------------------------------------

export interface RequirementsFile {
  /** How messages and origins name it (`requirements.txt`, `sub/dev.txt`); also its identity for loop detection. */
  name: string;
  text: string;
}

/**
 * Reads the file an `-r`/`-c` line names. `relativeTo` is the including
 * file's `name` (pip joins the path to that file's directory). Throwing
 * makes that line a problem with the error's message.
 */
export type ReadRequirementsFile = (path: string, relativeTo: string) => RequirementsFile;

/** A requirement from a requirements file. */
export interface Req extends Requirement {
  /** `sha256:<hex>` (also sha384/sha512), lowercase, in the order given. */
  hashes: string[];
  origin: { file: string; line: number };
  /** The requirement as written on its line, options removed. */
  text: string;
}

export interface ParsedRequirements {
  requirements: Req[];
  constraints: Req[];
  /** Lines kept but partly ignored (`--index-url`...), each `file:line: ...`. */
  warnings: string[];
  /** File-wide options the resolver honours: `--pre`, `--prefer-binary`, `--require-hashes`. */
  options: { pre: boolean; preferBinary: boolean; requireHashes: boolean };
}

export interface ParseRequirementsOptions {
  /** Without it, any `-r`/`-c` line is a problem. */
  readFile?: ReadRequirementsFile;
  /** Parse the top file as `-c` would (pydepot's own `-c FILE`). */
  constraints?: boolean;
}

const STRONG_HASHES: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
const ARCHIVE_EXTENSIONS = ['.zip', '.whl', '.tar.bz2', '.tbz', '.tar.gz', '.tgz', '.tar', '.tar.xz', '.txz', '.tlz', '.tar.lz', '.tar.lzma'];
const EDITABLE_HINT = 'pydepot resolves from the index only: build it into a wheel and upload it';

type OptionKind = 'requirement' | 'constraint' | 'editable' | 'index' | 'no-binary' | 'only-binary'
  | 'prefer-binary' | 'require-hashes' | 'pre' | 'feature' | 'build' | 'hash';

interface OptionSpec {
  names: string[];
  kind: OptionKind;
  takesValue: boolean;
}

// pip 23.2's req_file SUPPORTED_OPTIONS and SUPPORTED_OPTIONS_REQ.
const OPTIONS: OptionSpec[] = [
  { names: ['-i', '--index-url', '--pypi-url'], kind: 'index', takesValue: true },
  { names: ['--extra-index-url'], kind: 'index', takesValue: true },
  { names: ['--no-index'], kind: 'index', takesValue: false },
  { names: ['-c', '--constraint'], kind: 'constraint', takesValue: true },
  { names: ['-r', '--requirement'], kind: 'requirement', takesValue: true },
  { names: ['-e', '--editable'], kind: 'editable', takesValue: true },
  { names: ['-f', '--find-links'], kind: 'index', takesValue: true },
  { names: ['--no-binary'], kind: 'no-binary', takesValue: true },
  { names: ['--only-binary'], kind: 'only-binary', takesValue: true },
  { names: ['--prefer-binary'], kind: 'prefer-binary', takesValue: false },
  { names: ['--require-hashes'], kind: 'require-hashes', takesValue: false },
  { names: ['--pre'], kind: 'pre', takesValue: false },
  { names: ['--trusted-host'], kind: 'index', takesValue: true },
  { names: ['--use-feature'], kind: 'feature', takesValue: true },
  { names: ['--global-option'], kind: 'build', takesValue: true },
  { names: ['--hash'], kind: 'hash', takesValue: true },
  { names: ['-C', '--config-settings'], kind: 'build', takesValue: true },
];
const LONG_OPTIONS = new Map(OPTIONS.flatMap((o) => o.names.filter((n) => n.startsWith('--')).map((n) => [n, o] as const)));
const SHORT_OPTIONS = new Map(OPTIONS.flatMap((o) => o.names.filter((n) => !n.startsWith('--')).map((n) => [n, o] as const)));
// Options that pip applies on a requirement's own line; any other is ignored there.
const PER_REQUIREMENT: ReadonlySet<OptionKind> = new Set(['hash', 'build']);

interface GivenOption {
  spec: OptionSpec;
  /** As written (`--req`), for messages. */
  name: string;
  value: string | null;
}

class LineProblem extends Error {}

/** Python's shlex.split (POSIX mode, no comments). */
function shlexSplit(s: string): string[] {
  const tokens: string[] = [];
  let cur = '';
  let inToken = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\') {
        const next = s[i + 1];
        if (next === undefined) throw new LineProblem('No escaped character');
        if (next === '"' || next === '\\') {
          cur += next;
          i++;
        } else {
          cur += c;
        }
      } else cur += c;
    } else if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      if (inToken) tokens.push(cur);
      cur = '';
      inToken = false;
    } else if (c === '\\') {
      const next = s[i + 1];
      if (next === undefined) throw new LineProblem('No escaped character');
      cur += next;
      i++;
      inToken = true;
    } else if (c === "'" || c === '"') {
      quote = c;
      inToken = true;
    } else {
      cur += c;
      inToken = true;
    }
  }
  if (quote !== null) throw new LineProblem('No closing quotation');
  if (inToken) tokens.push(cur);
  return tokens;
}

/** optparse as pip configures it: long options abbreviate, values attach (`-rfile`, `--hash=x`) or follow. */
function parseOptions(args: string[]): { options: GivenOption[]; positional: string[] } {
  const rest = [...args];
  const options: GivenOption[] = [];
  const positional: string[] = [];
  while (rest.length > 0) {
    const arg = rest.shift() as string;
    if (arg === '--') {
      positional.push(...rest.splice(0));
    } else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg : arg.slice(0, eq);
      let spec = LONG_OPTIONS.get(name);
      if (spec === undefined) {
        const candidates = [...LONG_OPTIONS.keys()].filter((n) => n.startsWith(name));
        if (candidates.length === 0) throw new LineProblem(`has an unknown option ${name}`);
        if (candidates.length > 1) throw new LineProblem(`has an ambiguous option ${name} (${candidates.join(', ')})`);
        spec = LONG_OPTIONS.get(candidates[0] as string) as OptionSpec;
      }
      if (spec.takesValue) {
        const value = eq === -1 ? rest.shift() : arg.slice(eq + 1);
        if (value === undefined) throw new LineProblem(`has ${name} without its value`);
        options.push({ spec, name, value });
      } else {
        if (eq !== -1) throw new LineProblem(`has ${name}, which takes no value`);
        options.push({ spec, name, value: null });
      }
    } else if (arg.startsWith('-') && arg !== '-') {
      const name = arg.slice(0, 2);
      const spec = SHORT_OPTIONS.get(name);
      if (spec === undefined) throw new LineProblem(`has an unknown option ${name}`);
      // Every short option here takes a value: attached (`-rfile`) or the next word.
      const value = arg.length > 2 ? arg.slice(2) : rest.shift();
      if (value === undefined) throw new LineProblem(`has ${name} without its value`);
      options.push({ spec, name, value });
    } else {
      positional.push(arg);
    }
  }
  return { options, positional };
}

/** Python's str.splitlines. */
function splitLines(text: string): string[] {
  return text.split(/\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/);
}

const COMMENT_START = /^\s*#/;
const COMMENT = /(^|\s+)#.*$/;

/** pip's join_lines + ignore_comments: logical lines with the number of their first physical line. */
function logicalLines(text: string): Array<{ line: number; text: string }> {
  const joined: Array<{ line: number; text: string }> = [];
  let pending: string[] = [];
  let first = 0;
  splitLines(text.replace(/^\uFEFF/, '')).forEach((raw, i) => {
    const n = i + 1;
    let line = raw;
    if (!line.endsWith('\\') || COMMENT_START.test(line)) {
      // A comment line ends a continuation, and is itself dropped below.
      if (COMMENT_START.test(line)) line = ` ${line}`;
      if (pending.length > 0) {
        pending.push(line);
        joined.push({ line: first, text: pending.join('') });
        pending = [];
      } else {
        joined.push({ line: n, text: line });
      }
    } else {
      if (pending.length === 0) first = n;
      pending.push(line.replace(/^\\+|\\+$/g, ''));
    }
  });
  if (pending.length > 0) joined.push({ line: first, text: pending.join('') });
  return joined
    .map((l) => ({ line: l.line, text: l.text.replace(COMMENT, '').trim() }))
    .filter((l) => l.text !== '');
}

/** pip's break_args_options: the requirement is every word before the first one starting with `-`. */
function splitArgsOptions(line: string): { args: string; options: string } {
  const words = line.split(' ');
  const at = words.findIndex((w) => w.startsWith('-'));
  return at === -1 ? { args: line, options: '' } : { args: words.slice(0, at).join(' '), options: words.slice(at).join(' ') };
}

function looksLikePath(s: string): boolean {
  return s.includes('/') || s.includes('\\') || s.startsWith('.');
}

function isArchive(s: string): boolean {
  const lower = s.toLowerCase();
  return ARCHIVE_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

const VCS_SCHEME = /^(?:git|hg|svn|bzr)\+[a-z0-9+.-]*:/i;
// pip's URL schemes, and any `scheme://` (pip would call `git://...` an invalid requirement).
const URL_SCHEME = /^(?:(?:https?|ftp):|[a-z][a-z0-9+.-]*:\/\/)/i;
const WINDOWS_DRIVE = /^[a-z]:[\\/]/i;
const ENV_VAR = /\$\{([A-Z0-9_]+)\}/;

function localPathProblem(path: string): string {
  const wheel = /\.whl$/i.test(path.replace(/[#?].*$/, ''));
  return `is a local path; pydepot resolves from the index only: ${wheel ? 'upload the wheel and require it by name' : 'build it into a wheel and upload it'}`;
}

/** Why a location (a URL or path pip could install from) cannot be honoured, or null if it is none. */
function locationProblem(location: string): string | null {
  if (VCS_SCHEME.test(location)) return `is a VCS reference; ${EDITABLE_HINT}`;
  if (/^file:/i.test(location) || WINDOWS_DRIVE.test(location)) return localPathProblem(location.replace(/^file:/i, ''));
  if (URL_SCHEME.test(location)) return 'is a direct URL; pydepot resolves from the index only: upload the file and require it by name';
  return null;
}

function hashOf(value: string): string {
  const colon = value.indexOf(':');
  if (colon === -1) throw new LineProblem('has --hash without a hash name and value, like --hash=sha256:<hex digest>');
  const algorithm = value.slice(0, colon);
  const digest = value.slice(colon + 1);
  const length = STRONG_HASHES[algorithm];
  if (length === undefined) throw new LineProblem(`has --hash=${algorithm}:…; pip accepts sha256, sha384 or sha512`);
  if (!new RegExp(`^[0-9a-f]{${length}}$`, 'i').test(digest)) {
    throw new LineProblem(`has --hash=${value}, which is not a ${algorithm} digest (${length} hex digits)`);
  }
  return `${algorithm}:${digest.toLowerCase()}`;
}

/**
 * The requirement part of a line, as pip's parse_req_from_line reads it:
 * locations first, then the marker split at the first `;`, then PEP 508.
 */
function requirementOf(args: string): Requirement {
  const located = locationProblem(args);
  if (located !== null) throw new LineProblem(located);
  const semicolon = args.indexOf(';');
  const spec = (semicolon === -1 ? args : args.slice(0, semicolon)).trim();
  const markerText = semicolon === -1 ? '' : args.slice(semicolon + 1).trim();
  const at = spec.indexOf('@');
  if (at !== -1 && !looksLikePath(spec.slice(0, at))) {
    // `name @ url`: parsed so that the URL can be named in the refusal.
    const r = tryParseRequirement(spec);
    if (typeof r !== 'string' && r.url !== null) {
      throw new LineProblem(locationProblem(r.url) ?? localPathProblem(r.url));
    }
  } else if (looksLikePath(spec) || isArchive(spec)) {
    throw new LineProblem(localPathProblem(spec));
  }
  const r = tryParseRequirement(spec);
  if (typeof r === 'string') {
    const hint = spec.includes('=') && !/===|==|~=|!=|<=|>=|<|>/.test(spec) ? ' (= is not a valid operator: did you mean ==?)' : '';
    throw new LineProblem(`is not a valid requirement: ${r}${hint}`);
  }
  if (markerText !== '') {
    try {
      r.marker = Marker.parse(markerText);
    } catch (e) {
      if (e instanceof InvalidRequirement) throw new LineProblem(`is not a valid requirement: ${e.message}`);
      throw e;
    }
  }
  return r;
}

/**
 * Parses a requirements file and everything it includes. Throws one
 * InvalidRequirement listing every problem (`requirements.txt:7: '-e ./lib'
 * is an editable install; ...`) if any line cannot be honoured.
 */
export function parseRequirementsFile(file: RequirementsFile, opts: ParseRequirementsOptions = {}): ParsedRequirements {
  const result: ParsedRequirements = {
    requirements: [], constraints: [], warnings: [], options: { pre: false, preferBinary: false, requireHashes: false },
  };
  const problems: string[] = [];

  const parseFile = (current: RequirementsFile, constraint: boolean, stack: string[]): void => {
    for (const { line, text } of logicalLines(current.text)) {
      const where = `${current.name}:${line}`;
      const warn = (message: string): void => {
        result.warnings.push(`${where}: ${message}`);
      };
      try {
        const envVar = ENV_VAR.exec(text);
        if (envVar !== null) {
          throw new LineProblem(`uses the environment variable ${envVar[1]}, which pip expands on the machine it runs on: write its value instead`);
        }
        const { args, options: optionText } = splitArgsOptions(text);
        let words: string[];
        try {
          words = shlexSplit(optionText);
        } catch (e) {
          throw new LineProblem(`has options that cannot be split: ${(e as Error).message}`);
        }
        const { options, positional } = parseOptions(words);
        const hashes = options.filter((o) => o.spec.kind === 'hash').map((o) => hashOf(o.value as string));
        if (args !== '') {
          const req = requirementOf(args);
          if (constraint && req.extras.length > 0) {
            throw new LineProblem('is a constraint with extras; constraints cannot have extras (pip refuses them too)');
          }
          for (const o of options) {
            if (o.spec.kind === 'build') warn(`${o.name} is ignored: it configures source builds, and pydepot exports wheels`);
            else if (!PER_REQUIREMENT.has(o.spec.kind)) warn(`${o.name} after a requirement is ignored, as pip ignores it`);
          }
          for (const p of positional) warn(`'${p}' after the options is ignored, as pip ignores it`);
          (constraint ? result.constraints : result.requirements).push({
            ...req, hashes, origin: { file: current.name, line }, text: args,
          });
          continue;
        }
        if (options.some((o) => o.spec.kind === 'editable')) throw new LineProblem(`is an editable install; ${EDITABLE_HINT}`);
        for (const p of positional) warn(`'${p}' after the options is ignored, as pip ignores it`);
        for (const o of options) {
          switch (o.spec.kind) {
            case 'index': warn(`${o.name} is ignored: pydepot resolves from its own repositories`); break;
            case 'no-binary': throw new LineProblem(`asks pip to build from source (${o.name}); pydepot does not build: remove it`);
            case 'only-binary': warn(`${o.name} is ignored: pydepot exports wheels only (sdists only with --allow-sdist)`); break;
            case 'pre': result.options.pre = true; break;
            case 'prefer-binary': result.options.preferBinary = true; break;
            case 'require-hashes': result.options.requireHashes = true; break;
            case 'feature': warn(`${o.name} is ignored`); break;
            case 'build': warn(`${o.name} without a requirement is ignored, as pip ignores it`); break;
            case 'hash': warn(`${o.name} without a requirement is ignored, as pip ignores it`); break;
            default: break; // includes: below
          }
        }
        // pip reads only the first -r of a line, else the first -c.
        const includes = [...options.filter((o) => o.spec.kind === 'requirement'), ...options.filter((o) => o.spec.kind === 'constraint')];
        const [include, ...ignored] = includes;
        for (const o of ignored) warn(`${o.name} ${o.value} is ignored: pip reads one -r or -c per line`);
        if (include !== undefined) includeFile(current, include, stack);
      } catch (e) {
        if (!(e instanceof LineProblem)) throw e;
        problems.push(`${where}: '${text}' ${e.message}`);
      }
    }
  };

  const includeFile = (current: RequirementsFile, include: GivenOption, stack: string[]): void => {
    const path = include.value as string;
    if (/^(?:https?|file):/i.test(path)) {
      throw new LineProblem('includes a URL; pydepot reads only the files given to it: download it and include the file');
    }
    if (opts.readFile === undefined) {
      throw new LineProblem('includes another file, which cannot be read here: put its lines in this file');
    }
    let next: RequirementsFile;
    try {
      next = opts.readFile(path, current.name);
    } catch (e) {
      throw new LineProblem(`cannot be read: ${(e as Error).message}`);
    }
    if (stack.includes(next.name)) {
      throw new LineProblem(`includes ${next.name} again (${[...stack, next.name].join(' → ')}): a file cannot include itself`);
    }
    parseFile(next, include.spec.kind === 'constraint', [...stack, next.name]);
  };

  parseFile(file, opts.constraints ?? false, [file.name]);
  if (problems.length > 0) throw new InvalidRequirement(problems);
  return result;
}
