/**
 * PEP 508 environment markers (`python_version < "3.11" and sys_platform == "linux"`):
 * parsing, evaluation against a target's environment, and packaging's
 * string form.
 *
 * The reference is packaging 26.2, which implements the current
 * dependency-specifiers spec; pip 23's vendored packaging 21.3 is older and
 * differs in known ways (test/unit/markers.test.ts lists each). Semantics, in short:
 * - `python_version`, `python_full_version`, `implementation_version` and
 *   `platform_release` compare as PEP 440 versions when the other side with
 *   the operator forms a valid specifier (`"3.8" < python_version` builds the
 *   specifier from the environment's value); pre-releases match. A value
 *   that is not a version then matches nothing but `===`.
 * - Otherwise values are strings: `==`/`!=` compare, `in`/`not in` test
 *   substrings, `<=`/`>=` mean `==`, `<`/`>` are false, and `~=`/`===` are errors.
 * - `extra` names are compared normalized (PEP 685), on both sides and at any
 *   depth of parentheses (packaging 26.2 forgets the parenthesized ones).
 * - Quoted strings are read as Python literals: backslash escapes count.
 *
 * Stricter than packaging, to fail at parse time rather than at evaluation
 * or with a meaningless answer: comparing two variables or two literals,
 * `~=`/`===` on a string variable, and `extras`/`dependency_groups` (PEP 751
 * lock-file sets) with anything but `"name" in extras` are refused.
 */
import { InvalidRequirement } from '../errors.ts';
import { normalizeName } from '../pypi/names.ts';
import { matchesSpecifier, parseSpecifier } from '../pypi/specifiers.ts';
import { SyntaxErrorAt, Tokenizer, describeSyntaxError } from './tokenizer.ts';

/** The PEP 508 variables of one target, as `packaging.markers.default_environment()` prints them. */
export interface MarkerEnvironment {
  os_name: string;
  sys_platform: string;
  platform_machine: string;
  platform_python_implementation: string;
  platform_release: string;
  platform_system: string;
  platform_version: string;
  python_version: string;
  python_full_version: string;
  implementation_name: string;
  implementation_version: string;
}

type EnvName = keyof MarkerEnvironment;
type VariableName = EnvName | 'extra' | 'extras' | 'dependency_groups';
export type MarkerOperator = '===' | '==' | '~=' | '!=' | '<=' | '>=' | '<' | '>' | 'in' | 'not in';

type MarkerVar = { readonly variable: VariableName } | { readonly value: string };

interface MarkerItem {
  readonly left: MarkerVar;
  readonly op: MarkerOperator;
  readonly right: MarkerVar;
}

/** packaging's tree: items, nested groups (parentheses) and the words between them. */
type MarkerList = ReadonlyArray<MarkerItem | MarkerList | 'and' | 'or'>;

const VERSION_VARIABLES: ReadonlySet<VariableName> = new Set([
  'implementation_version', 'platform_release', 'python_full_version', 'python_version',
]);
const SET_VARIABLES: ReadonlySet<VariableName> = new Set(['extras', 'dependency_groups']);

function isVariable(v: MarkerVar): v is { readonly variable: VariableName } {
  return 'variable' in v;
}

// --- Python string literals ---------------------------------------------------

const SIMPLE_ESCAPES: Record<string, string> = {
  '\n': '', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v',
};

/**
 * The value of a quoted token as Python's `ast.literal_eval` reads it
 * (packaging does exactly that): `\n`, `\x41`, `\u00e9`, octal... are
 * escapes, an unknown escape keeps its backslash. `\N{...}` is refused:
 * no marker needs a Unicode character name.
 */
function pythonString(token: string): string {
  const body = token.slice(1, -1);
  if (body.includes('\0')) throw new SyntaxError('a quoted string cannot contain a NUL character');
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[i + 1];
    if (e === undefined) throw new SyntaxError('a backslash cannot end a quoted string');
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      out += simple;
      i++;
      continue;
    }
    const octal = /^[0-7]{1,3}/.exec(body.slice(i + 1))?.[0];
    if (octal !== undefined) {
      out += String.fromCodePoint(parseInt(octal, 8));
      i += octal.length;
      continue;
    }
    const width = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    if (width > 0) {
      const hex = body.slice(i + 2, i + 2 + width);
      const code = /^[0-9a-fA-F]+$/.test(hex) && hex.length === width ? parseInt(hex, 16) : NaN;
      if (!(code <= 0x10ffff)) throw new SyntaxError(`truncated or invalid \\${e} escape`);
      out += String.fromCodePoint(code);
      i += 1 + width;
      continue;
    }
    if (e === 'N') throw new SyntaxError('\\N{...} escapes are not supported in markers');
    out += c; // unknown escape: Python keeps the backslash (the next character follows as usual)
  }
  return out;
}

// --- Parsing -------------------------------------------------------------------

function parseVar(t: Tokenizer): MarkerVar {
  if (t.check('VARIABLE')) {
    const name = t.read().text.replace('.', '_');
    return { variable: (name === 'python_implementation' ? 'platform_python_implementation' : name) as VariableName };
  }
  if (t.check('QUOTED_STRING')) {
    const token = t.read();
    try {
      return { value: pythonString(token.text) };
    } catch (e) {
      return t.fail((e as Error).message, token.position, token.position + token.text.length);
    }
  }
  return t.fail('Expected a marker variable or quoted string');
}

function parseOp(t: Tokenizer): MarkerOperator {
  if (t.check('IN')) {
    t.read();
    return 'in';
  }
  if (t.check('NOT')) {
    t.read();
    t.expect('WS', "whitespace after 'not'");
    t.expect('IN', "'in' after 'not'");
    return 'not in';
  }
  if (t.check('OP')) return t.read().text as MarkerOperator;
  return t.fail('Expected marker operator, one of <=, <, !=, ==, >=, >, ~=, ===, in, not in');
}

/** Refusals packaging would only meet at evaluation (or never): see the module comment. */
function checkItem(item: MarkerItem, t: Tokenizer, start: number): void {
  const fail = (why: string): never => t.fail(why, start, t.position);
  const { left, op, right } = item;
  if (isVariable(left) === isVariable(right)) {
    fail(isVariable(left) ? 'Expected a quoted string: a marker compares a variable with a quoted string, not two variables'
      : 'Expected a marker variable: comparing two quoted strings is meaningless');
  }
  const variable = isVariable(left) ? left.variable : (right as { variable: VariableName }).variable;
  if (SET_VARIABLES.has(variable)) {
    if (isVariable(left) || (op !== 'in' && op !== 'not in')) fail(`${variable} is a set: test it as "name" in ${variable}`);
    return;
  }
  if (op !== '~=' && op !== '===') return;
  if (!VERSION_VARIABLES.has(variable)) fail(`'${op}' compares versions, and ${variable} is a string: use == or in`);
  if (!isVariable(right) && parseSpecifier(`${op}${(right as { value: string }).value}`) === null) {
    fail(`'${op}' needs a valid version specifier on its right`);
  }
}

function parseItem(t: Tokenizer): MarkerItem {
  t.consume('WS');
  const start = t.position;
  const left = parseVar(t);
  t.consume('WS');
  const op = parseOp(t);
  t.consume('WS');
  const right = parseVar(t);
  t.consume('WS');
  const item = { left, op, right };
  checkItem(item, t, start);
  return item;
}

function parseAtom(t: Tokenizer): MarkerList | MarkerItem {
  t.consume('WS');
  let atom: MarkerList | MarkerItem;
  if (t.check('LEFT_PARENTHESIS', true)) {
    atom = t.enclosing('LEFT_PARENTHESIS', 'RIGHT_PARENTHESIS', 'marker expression', () => {
      t.consume('WS');
      const inner = parseMarkerList(t);
      t.consume('WS');
      return inner;
    });
  } else {
    atom = parseItem(t);
  }
  t.consume('WS');
  return atom;
}

/** marker = atom (BOOLOP atom)*; `and` binds tighter than `or` at evaluation. */
export function parseMarkerList(t: Tokenizer): MarkerList {
  const expression: Array<MarkerItem | MarkerList | 'and' | 'or'> = [parseAtom(t)];
  while (t.check('BOOLOP')) {
    const word = t.read().text as 'and' | 'or';
    expression.push(word, parseAtom(t));
  }
  return expression;
}

// PEP 685: extra names are compared normalized. Done on the literal side of
// every `extra` comparison, at any depth.
function normalizeExtras(list: MarkerList): MarkerList {
  return list.map((m) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m)) return normalizeExtras(m as MarkerList);
    const item = m as MarkerItem;
    if (isVariable(item.left) && item.left.variable === 'extra' && !isVariable(item.right)) {
      return { ...item, right: { value: normalizeName(item.right.value) } };
    }
    if (isVariable(item.right) && item.right.variable === 'extra' && !isVariable(item.left)) {
      return { ...item, left: { value: normalizeName(item.left.value) } };
    }
    return item;
  });
}

// --- Formatting ------------------------------------------------------------------

function formatVar(v: MarkerVar): string {
  return isVariable(v) ? v.variable : `"${v.value}"`;
}

// packaging's _format_marker: a one-element list loses its parentheses.
function formatList(m: MarkerList | MarkerItem | string, first = true): string {
  if (typeof m === 'string') return m;
  if (!Array.isArray(m)) {
    const item = m as MarkerItem;
    return `${formatVar(item.left)} ${item.op} ${formatVar(item.right)}`;
  }
  const list = m as MarkerList;
  if (list.length === 1 && typeof list[0] !== 'string') return formatList(list[0] as MarkerList | MarkerItem);
  const inner = list.map((x) => formatList(x, false)).join(' ');
  return first ? inner : `(${inner})`;
}

// --- Evaluation --------------------------------------------------------------------

type Lookup = (name: VariableName) => string | ReadonlySet<string>;

function evalOp(lhs: string, op: MarkerOperator, rhs: string | ReadonlySet<string>, key: VariableName): boolean {
  if (typeof rhs === 'string' && VERSION_VARIABLES.has(key)) {
    const spec = parseSpecifier(`${op}${rhs}`);
    if (spec !== null) return matchesSpecifier(lhs, { specifiers: [spec] }, { prereleases: true });
  }
  const has = (): boolean => (typeof rhs === 'string' ? rhs.includes(lhs) : rhs.has(lhs));
  switch (op) {
    case 'in': return has();
    case 'not in': return !has();
    case '==': case '<=': case '>=': return lhs === rhs;
    case '!=': return lhs !== rhs;
    case '<': case '>': return false;
    default:
      throw new InvalidRequirement(`'${op}' is not defined between '${lhs}' and '${typeof rhs === 'string' ? rhs : [...rhs].join(', ')}': they are not versions`);
  }
}

function evalItem(item: MarkerItem, lookup: Lookup): boolean {
  const { left, op, right } = item;
  const key = isVariable(left) ? left.variable : (right as { variable: VariableName }).variable;
  let lhs = isVariable(left) ? lookup(left.variable) : left.value;
  let rhs = isVariable(left) ? (right as { value: string }).value : lookup(key);
  if (typeof lhs !== 'string') throw new Error(`unreachable: ${key} on the left`);
  if (SET_VARIABLES.has(key)) {
    lhs = normalizeName(lhs);
    if (typeof rhs !== 'string') rhs = new Set([...rhs].map(normalizeName));
  }
  return evalOp(lhs, op, rhs, key);
}

function evalList(list: MarkerList, lookup: Lookup): boolean {
  // `a and b or c and d`: groups split at each `or`; true if every item of some group is.
  const groups: boolean[][] = [[]];
  for (const m of list) {
    if (m === 'or') groups.push([]);
    else if (m === 'and') continue;
    else {
      const value = Array.isArray(m) ? evalList(m as MarkerList, lookup) : evalItem(m as MarkerItem, lookup);
      (groups[groups.length - 1] as boolean[]).push(value);
    }
  }
  return groups.some((g) => g.every(Boolean));
}

function environmentLookup(env: MarkerEnvironment, extra: string | null, lockFile: LockFileContext | null): Lookup {
  return (name) => {
    if (name === 'extra') {
      if (extra === null) throw new InvalidRequirement('the marker variable extra is not defined in a lock file (use "name" in extras)');
      return extra;
    }
    if (name === 'extras' || name === 'dependency_groups') {
      if (lockFile === null) throw new InvalidRequirement(`the marker variable ${name} is defined only in a lock file`);
      return new Set(name === 'extras' ? lockFile.extras : lockFile.dependencyGroups);
    }
    const value = env[name];
    if (typeof value !== 'string') throw new InvalidRequirement(`the marker environment has no ${name}`);
    // packaging's repair for non-tagged CPython builds ("3.13.0+").
    return name === 'python_full_version' && value.endsWith('+') ? `${value}local` : value;
  };
}

/** The requested extras and dependency groups of a PEP 751 lock-file marker evaluation. */
export interface LockFileContext {
  extras: Iterable<string>;
  dependencyGroups: Iterable<string>;
}

export class Marker {
  private readonly tree: MarkerList;

  private constructor(tree: MarkerList) {
    this.tree = tree;
  }

  /** Parses a whole marker expression; throws InvalidRequirement with the reason and column. */
  static parse(text: string): Marker {
    const t = new Tokenizer(text);
    try {
      const tree = parseMarkerList(t);
      t.expect('END', 'end of marker expression');
      return new Marker(normalizeExtras(tree));
    } catch (e) {
      if (e instanceof SyntaxErrorAt) throw new InvalidRequirement(`invalid marker '${text}': ${describeSyntaxError(e)}`);
      throw e;
    }
  }

  /** For the requirement parser, which reads the marker from its own tokenizer. */
  static fromTree(tree: MarkerList): Marker {
    return new Marker(normalizeExtras(tree));
  }

  /**
   * Whether the marker holds for `env` with these extras requested, as pip
   * decides a dependency: true if it holds with `extra` set to any one of
   * them (or to "" when none is requested). So `extra == "a" and extra == "b"`
   * is never true, and `extra != "a"` is true for `{a, b}`.
   * Throws InvalidRequirement where packaging raises (a comparison with no
   * meaning, such as `"3.8" ~= python_version` with a non-version value, or
   * `extras` outside a lock file).
   */
  evaluate(env: MarkerEnvironment, extras: Iterable<string> = []): boolean {
    const requested = [...extras].map((e) => (e === '' ? '' : normalizeName(e)));
    if (requested.length === 0) requested.push('');
    return this.explained(() => requested.some((extra) => evalList(this.tree, environmentLookup(env, extra, null))));
  }

  /** PEP 751: in a lock file, markers test the sets `extras` and `dependency_groups`; `extra` is undefined. */
  evaluateInLockFile(env: MarkerEnvironment, context: LockFileContext): boolean {
    return this.explained(() => evalList(this.tree, environmentLookup(env, null, context)));
  }

  /** Names the marker in an evaluation error. */
  private explained(evaluate: () => boolean): boolean {
    try {
      return evaluate();
    } catch (e) {
      if (e instanceof InvalidRequirement) throw new InvalidRequirement(`marker '${this.toString()}' cannot be evaluated: ${e.message}`);
      throw e;
    }
  }

  /** packaging's `str(Marker)`: normalized spacing, double quotes, aliases resolved (`os.name` → `os_name`). */
  toString(): string {
    return formatList(this.tree);
  }
}

/** Shorthand for `Marker.parse`. */
export function parseMarker(text: string): Marker {
  return Marker.parse(text);
}
