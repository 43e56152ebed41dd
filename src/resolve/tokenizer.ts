/**
 * The context-sensitive tokenizer behind PEP 508 requirements and markers,
 * a port of packaging 26.2's `_tokenizer.py`: the parser asks "is the next
 * token an X?" and the rule for X is tried at the current position only.
 * Keeping packaging's rules and the order the parser asks in is what makes
 * the accepted language (quirks included) the same as pip's modern parser.
 */
import { SPECIFIER_PATTERN } from '../pypi/specifiers.ts';

// \b here is ASCII (JS), where Python's is Unicode: they differ only next to
// non-ASCII letters, which no rule accepts outside quoted strings anyway.
const RULES = {
  LEFT_PARENTHESIS: /\(/y,
  RIGHT_PARENTHESIS: /\)/y,
  LEFT_BRACKET: /\[/y,
  RIGHT_BRACKET: /\]/y,
  SEMICOLON: /;/y,
  COMMA: /,/y,
  QUOTED_STRING: /(?:'[^']*')|(?:"[^"]*")/y,
  OP: /===|==|~=|!=|<=|>=|<|>/y,
  BOOLOP: /\b(?:or|and)\b/y,
  IN: /\bin\b/y,
  NOT: /\bnot\b/y,
  VARIABLE: /\b(?:python_version|python_full_version|os[._]name|sys[._]platform|platform_(?:release|system)|platform[._](?:version|machine|python_implementation)|python_implementation|implementation_(?:name|version)|extras?|dependency_groups)\b/y,
  SPECIFIER: new RegExp(SPECIFIER_PATTERN, 'iy'),
  AT: /@/y,
  URL: /[^ \t]+/y,
  IDENTIFIER: /\b[a-zA-Z0-9][a-zA-Z0-9._-]*\b/y,
  VERSION_PREFIX_TRAIL: /\.\*/y,
  VERSION_LOCAL_LABEL_TRAIL: /\+[a-z0-9]+(?:[-_.][a-z0-9]+)*/y,
  WS: /[ \t]+/y,
} as const;

export type TokenName = keyof typeof RULES | 'END';

export interface Token {
  name: TokenName;
  text: string;
  position: number;
}

/** A syntax error with packaging's wording and the 0-based span it points at. */
export class SyntaxErrorAt extends Error {
  readonly span: readonly [number, number];
  constructor(message: string, span: [number, number]) {
    super(message);
    this.name = 'SyntaxErrorAt';
    this.span = span;
  }
}

export class Tokenizer {
  readonly source: string;
  position = 0;
  private next: Token | null = null;

  constructor(source: string) {
    this.source = source;
  }

  /** Reads the token if it is next (and it is `name`). */
  consume(name: TokenName): void {
    if (this.check(name)) this.read();
  }

  /**
   * Whether the next token is `name`. Unless `peek`, a match is loaded and
   * must be read before the next check.
   */
  check(name: TokenName, peek = false): boolean {
    if (this.next !== null) throw new Error(`cannot check for ${name}: ${this.next.name} is loaded`);
    let text: string | null;
    if (name === 'END') {
      // Python's `$` also matches just before a final newline.
      const rest = this.source.length - this.position;
      text = rest === 0 || (rest === 1 && this.source.endsWith('\n')) ? '' : null;
    } else {
      const re = RULES[name];
      re.lastIndex = this.position;
      text = re.exec(this.source)?.[0] ?? null;
    }
    if (text === null) return false;
    if (!peek) this.next = { name, text, position: this.position };
    return true;
  }

  /** Reads a `name` token, or fails with "Expected <expected>". */
  expect(name: TokenName, expected: string): Token {
    if (!this.check(name)) this.fail(`Expected ${expected}`);
    return this.read();
  }

  read(): Token {
    const token = this.next;
    if (token === null) throw new Error('no token loaded');
    this.position += token.text.length;
    this.next = null;
    return token;
  }

  fail(message: string, spanStart = this.position, spanEnd = this.position): never {
    throw new SyntaxErrorAt(message, [spanStart, spanEnd]);
  }

  /** Runs `body` between an optional open token and its required close token. */
  enclosing<T>(open: TokenName, close: TokenName, around: string, body: () => T): T {
    let openPosition: number | null = null;
    if (this.check(open)) {
      openPosition = this.position;
      this.read();
    }
    const result = body();
    if (openPosition === null) return result;
    if (!this.check(close)) {
      this.fail(`Expected matching ${close} for ${open}, after ${around}`, openPosition);
    }
    this.read();
    return result;
  }
}

/** One line: the message and where it points, 1-based (`... (column 17)`). */
export function describeSyntaxError(e: SyntaxErrorAt): string {
  return `${e.message} (column ${e.span[1] + 1})`;
}
