/**
 * The JSON root page (PEP 691 project list) read as a stream. pypi.org's JSON
 * root is tens of MB, 700,000 `{"name": …}` entries: parsed whole (a string
 * of the body, then its objects) it took more memory than the names it
 * yields. Here stream-json's tokenizer (its core `jsonParser`: text in, tokens
 * out, no Node streams) reads the body chunk by chunk and checks its syntax;
 * each entry of `projects` is assembled alone (stream-json's Assembler) when
 * its tokens come, `meta` too; every other value is only tokenized and
 * dropped. So memory is one entry, plus the tokenizer's unread tail, whatever
 * the list's length.
 *
 * What it accepts and refuses is what JSON.parse would (the shape checks are
 * this file's), with two exceptions a real index never meets: a second
 * `projects` member is refused (its first's names are already out), and
 * nesting deeper than MAX_DEPTH is refused. Which error a body with two faults
 * reports may depend on where the chunks were cut (stream-json reads a whole
 * chunk before its tokens are looked at), never whether it is refused.
 *
 * Why stream-json: it tokenizes JS strings (the body arrives decoded); on a
 * 500,000-name pypi.org-like list its CPU was 1.1-1.3x the hand-written
 * scanner this replaced. @streamparser/json encodes each chunk back to bytes
 * and was about 2x slower than stream-json there.
 *
 * Pure: no network, no disk.
 */
import { none } from 'stream-chain/defs.js';
import { Assembler } from 'stream-json/core/assembler.js';
import { jsonParser, type Token, type TokenSource } from 'stream-json/core/parser.js';
import { checkApiVersion, IndexFormatError, isObject, LEADING_SPACE } from './index-format.ts';

/** Deeper nesting than a project list has is refused rather than tracked. */
const MAX_DEPTH = 256;

/**
 * stream-json's tokenizer, a stream-chain flushable: text in, tokens out; it
 * is called with stream-chain's `none` when the input ends (its type says
 * only text).
 */
type Tokenizer = (text: string | typeof none) => ReturnType<TokenSource>;

export class RootJsonReader {
  /** Keys, strings and numbers come whole (no chunk tokens): all this reads is whole values. */
  private readonly tokenizer = jsonParser({ packValues: true, streamValues: false }) as Tokenizer;
  /** Assembles the value being kept (an entry of `projects`, or `meta`). */
  private readonly assembler = new Assembler();
  /** A non-blank character was written (before it, blanks and byte-order marks are dropped). */
  private started = false;
  /** Containers open around the next token. */
  private depth = 0;
  /** The top-level member whose value comes next. */
  private key: string | null = null;
  private sawProjects = false;
  /** The `projects` array is open: its elements are entries. */
  private inProjects = false;
  /** What the assembler is building: until its container closes, tokens go to it. */
  private capture: 'meta' | 'entry' | null = null;

  /** `name` is called with each entry's name (trimmed, not yet checked). */
  constructor(private readonly name: (candidate: string) => void) {}

  write(chunk: string): void {
    let text = chunk;
    if (!this.started) {
      // JSON.parse after trimming leading blanks and byte-order marks: the
      // tokenizer refuses a mark, so the marks go, and the blanks with them.
      text = text.replace(LEADING_SPACE, '');
      if (text === '') return;
      this.started = true;
    }
    this.tokens(text);
  }

  /** The page is complete: throws IndexFormatError if it is not a whole project list. */
  end(): void {
    if (!this.started) throw new IndexFormatError('Invalid JSON project list: the body ends before any JSON.');
    this.tokens(null);
    if (!this.sawProjects) throw new IndexFormatError('JSON project list has no `projects` array.');
  }

  /** Tokenizes `text` (null: the end of the body) and reads its tokens. */
  private tokens(text: string | null): void {
    let out: ReturnType<Tokenizer>;
    try {
      out = this.tokenizer(text ?? none);
    } catch (err) {
      // stream-json's tokenizer throws plain Errors ("Parser cannot parse input: …").
      const reason = (err as Error).message.replace(/^Parser (cannot parse input: |has )/, '');
      throw new IndexFormatError(`Invalid JSON project list: ${reason}.`);
    }
    if (typeof out === 'symbol') return;
    for (const token of out.values) this.token(token);
  }

  private token(token: Token): void {
    switch (token.name) {
      case 'startObject':
      case 'startArray':
        this.open(token);
        return;
      case 'endObject':
      case 'endArray':
        this.depth--;
        if (this.capture !== null) {
          this.assembler.consume(token);
          if (this.assembler.done) this.captured();
        } else if (this.depth === 1) {
          this.inProjects = false;
        }
        return;
      case 'keyValue':
        if (this.capture !== null) this.assembler.consume(token);
        else if (this.depth === 1) this.key = token.value;
        return;
      case 'stringValue':
      case 'numberValue':
      case 'nullValue':
      case 'trueValue':
      case 'falseValue':
        if (this.capture !== null) this.assembler.consume(token);
        else if (this.depth === 0) throw new IndexFormatError('The JSON project list is not an object.');
        else if (this.depth === 1) this.member(token.name === 'nullValue' ? 'null' : 'other');
        // An entry that is not an object (depth 2 in `projects`) has no name; other values are not kept.
        return;
      default:
        // Chunk tokens are not asked for (streamValues: false).
        return;
    }
  }

  private open(token: Token): void {
    if (this.capture !== null) {
      this.assembler.consume(token);
    } else if (this.depth === 0) {
      if (token.name !== 'startObject') throw new IndexFormatError('The JSON project list is not an object.');
    } else if (this.depth === 1) {
      const kind = token.name === 'startArray' ? 'array' : 'object';
      if (this.member(kind)) this.inProjects = true;
      else if (this.key === 'meta') this.startCapture('meta', token);
    } else if (this.depth === 2 && this.inProjects) {
      this.startCapture('entry', token);
    }
    if (++this.depth > MAX_DEPTH) throw new IndexFormatError(`JSON project list nested deeper than ${MAX_DEPTH}.`);
  }

  /**
   * A top-level member's value starts. Returns whether it is the `projects`
   * array; checks what `projects` and `meta` must be (`meta` null is none, an
   * object is checked once whole).
   */
  private member(kind: 'array' | 'object' | 'null' | 'other'): boolean {
    if (this.key === 'projects') {
      if (this.sawProjects) throw new IndexFormatError('JSON project list has two `projects` members.');
      this.sawProjects = true;
      if (kind !== 'array') throw new IndexFormatError('JSON project list has no `projects` array.');
      return true;
    }
    if (this.key === 'meta' && kind !== 'null' && kind !== 'object') throw new IndexFormatError('JSON `meta` is not an object.');
    return false;
  }

  private startCapture(what: 'meta' | 'entry', token: Token): void {
    this.capture = what;
    this.assembler.consume(token);
  }

  /** The captured value is whole. */
  private captured(): void {
    const value: unknown = this.assembler.current;
    const what = this.capture;
    this.capture = null;
    if (what === 'meta') {
      if (!isObject(value)) throw new IndexFormatError('JSON `meta` is not an object.');
      checkApiVersion(value['api-version'], 'meta.api-version');
    } else if (isObject(value) && typeof value.name === 'string') {
      this.name(value.name.trim());
    }
  }
}
