/**
 * The JSON root page (PEP 691 project list) read as a stream: a validating
 * JSON scanner that keeps only what a project list needs. pypi.org's JSON
 * root is tens of MB, 700,000 `{"name": …}` entries: parsed whole (a string
 * of the body, then its objects) it took more memory than the names it
 * yields. Here each entry of `projects` is cut out as it ends and parsed
 * alone (it is small), `meta` too; every other value is only checked for
 * syntax. What it accepts and refuses is what JSON.parse would, with two
 * exceptions a real index never meets: a second `projects` member is refused
 * (its first's names are already out), and an entry longer than
 * MAX_ENTRY_CHARS is skipped as nameless.
 *
 * Pure: no network, no disk.
 */
import { checkApiVersion, IndexFormatError, isObject } from './index-format.ts';

/** Longer entries are skipped (pypi.org's are `{"_last-serial": 12345678, "name": "…"}`). */
const MAX_ENTRY_CHARS = 64 * 1024;
/** `meta` larger than this is not a simple index's. */
const MAX_META_CHARS = 64 * 1024;
/** A top-level key longer than this is none of those read (`meta`, `projects`). */
const MAX_KEY_CHARS = 1024;
/** Deeper nesting than a project list has is refused rather than tracked. */
const MAX_DEPTH = 256;

// Scanner states.
const VALUE = 0; // a value must come (after `:`, after `,` in an array, the document)
const VALUE_OR_CLOSE = 1; // after `[`
const KEY_OR_CLOSE = 2; // after `{`
const KEY = 3; // after `,` in an object
const COLON = 4;
const AFTER_VALUE = 5; // `,` or the container's close
const STRING = 6;
const ESCAPE = 7;
const UNICODE = 8; // \uXXXX: `hexLeft` digits to go
const NUMBER = 9;
const LITERAL = 10;
const DONE = 11;

// Number sub-states: accepting ones are INT, ZERO, FRAC, EXP_DIGITS.
const N_MINUS = 0;
const N_ZERO = 1;
const N_INT = 2;
const N_DOT = 3;
const N_FRAC = 4;
const N_E = 5;
const N_E_SIGN = 6;
const N_EXP_DIGITS = 7;

const OBJECT = 1;
const ARRAY = 2;

type Capture = 'key' | 'meta' | 'entry';

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
const isBlank = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

export class RootJsonScanner {
  private state = VALUE;
  private readonly stack: number[] = [];
  /** Characters consumed before the current chunk (error positions count from the body's start). */
  private offset = 0;
  private started = false;
  private stringIsKey = false;
  private hexLeft = 0;
  private numberState = N_MINUS;
  private literal = '';
  private literalAt = 0;
  /** The top-level member whose value comes next (null: one not read). */
  private key: string | null = null;
  private sawProjects = false;
  /** The `projects` array is open: its elements are entries. */
  private inProjects = false;
  // The value being cut out: its text so far (earlier chunks), where it
  // starts in this chunk, the depth it sits at, and whether it ran over.
  private capture: Capture | null = null;
  private captured = '';
  private captureFrom = 0;
  private captureDepth = 0;
  private overflow = false;

  /** `name` is called with each entry's name (trimmed, not yet checked). */
  constructor(private readonly name: (candidate: string) => void) {}

  write(chunk: string): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const c = chunk.charCodeAt(i);
      switch (this.state) {
        case STRING: {
          // The common case, plain characters, in a tight loop.
          let j = i;
          let d = c;
          while (d !== 0x22 && d !== 0x5c && d >= 0x20) {
            if (++j === n) break;
            d = chunk.charCodeAt(j);
          }
          if (j === n) {
            i = n;
            continue;
          }
          if (d === 0x22) {
            this.state = AFTER_VALUE;
            this.valueEnded(chunk, j + 1);
            if (this.stringIsKey) this.state = COLON;
          } else if (d === 0x5c) {
            this.state = ESCAPE;
          } else {
            this.unexpected(chunk, j);
          }
          i = j + 1;
          continue;
        }
        case ESCAPE:
          if (c === 0x75) { // u
            this.state = UNICODE;
            this.hexLeft = 4;
          } else if (c === 0x22 || c === 0x5c || c === 0x2f || c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74) {
            this.state = STRING;
          } else {
            this.unexpected(chunk, i);
          }
          i++;
          continue;
        case UNICODE:
          if (!isHex(c)) this.unexpected(chunk, i);
          if (--this.hexLeft === 0) this.state = STRING;
          i++;
          continue;
        case NUMBER:
          if (this.number(c)) {
            i++;
            continue;
          }
          // The character after the number is not part of it: read it again as what follows.
          if (this.numberState !== N_ZERO && this.numberState !== N_INT && this.numberState !== N_FRAC && this.numberState !== N_EXP_DIGITS) {
            this.unexpected(chunk, i);
          }
          this.state = AFTER_VALUE;
          this.valueEnded(chunk, i);
          continue;
        case LITERAL:
          if (c !== this.literal.charCodeAt(this.literalAt)) this.unexpected(chunk, i);
          if (++this.literalAt === this.literal.length) {
            this.state = AFTER_VALUE;
            this.valueEnded(chunk, i + 1);
          }
          i++;
          continue;
      }
      if (isBlank(c) || (c === 0xfeff && !this.started)) {
        i++;
        continue;
      }
      switch (this.state) {
        case VALUE:
          this.startValue(chunk, i, c);
          break;
        case VALUE_OR_CLOSE:
          if (c === 0x5d) this.close(chunk, i, ARRAY);
          else this.startValue(chunk, i, c);
          break;
        case KEY_OR_CLOSE:
          if (c === 0x7d) this.close(chunk, i, OBJECT);
          else this.startKey(chunk, i, c);
          break;
        case KEY:
          this.startKey(chunk, i, c);
          break;
        case COLON:
          if (c !== 0x3a) this.unexpected(chunk, i);
          this.state = VALUE;
          break;
        case AFTER_VALUE: {
          const top = this.stack[this.stack.length - 1];
          if (c === 0x2c) this.state = top === OBJECT ? KEY : VALUE;
          else if (c === 0x7d && top === OBJECT) this.close(chunk, i, OBJECT);
          else if (c === 0x5d && top === ARRAY) this.close(chunk, i, ARRAY);
          else this.unexpected(chunk, i);
          break;
        }
        default: // DONE: only blanks may follow the document
          this.unexpected(chunk, i);
      }
      i++;
    }
    if (this.capture !== null) this.keep(chunk.slice(this.captureFrom));
    this.captureFrom = 0;
    this.offset += n;
  }

  /** The page is complete: throws IndexFormatError if it is not a whole project list. */
  end(): void {
    if (this.state !== DONE) {
      throw new IndexFormatError(`Invalid JSON project list: the body ends ${this.started ? 'in the middle of the document' : 'before any JSON'}.`);
    }
    if (!this.sawProjects) throw new IndexFormatError('JSON project list has no `projects` array.');
  }

  private startKey(chunk: string, i: number, c: number): void {
    if (c !== 0x22) this.unexpected(chunk, i);
    this.state = STRING;
    this.stringIsKey = true;
    if (this.stack.length === 1) this.startCapture('key', chunk, i);
  }

  private startValue(chunk: string, i: number, c: number): void {
    const depth = this.stack.length;
    this.started = true;
    if (depth === 0 && c !== 0x7b) {
      // After JSON.parse, this would be "not an object" (or not JSON at all).
      if (c === 0x5b || c === 0x22 || c === 0x2d || isDigit(c) || c === 0x74 || c === 0x66 || c === 0x6e) {
        throw new IndexFormatError('The JSON project list is not an object.');
      }
      this.unexpected(chunk, i);
    }
    if (depth === 1) {
      if (this.key === 'meta') this.startCapture('meta', chunk, i);
      else if (this.key === 'projects') {
        if (this.sawProjects) throw new IndexFormatError('JSON project list has two `projects` members.');
        this.sawProjects = true;
        if (c !== 0x5b) throw new IndexFormatError('JSON project list has no `projects` array.');
        this.inProjects = true;
      }
    } else if (depth === 2 && this.inProjects) {
      this.startCapture('entry', chunk, i);
    }
    if (c === 0x7b || c === 0x5b) {
      if (depth >= MAX_DEPTH) throw new IndexFormatError(`JSON project list nested deeper than ${MAX_DEPTH}.`);
      this.stack.push(c === 0x7b ? OBJECT : ARRAY);
      this.state = c === 0x7b ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
    } else if (c === 0x22) {
      this.state = STRING;
      this.stringIsKey = false;
    } else if (c === 0x2d || isDigit(c)) {
      this.state = NUMBER;
      this.numberState = c === 0x2d ? N_MINUS : c === 0x30 ? N_ZERO : N_INT;
    } else if (c === 0x74 || c === 0x66 || c === 0x6e) {
      this.state = LITERAL;
      this.literal = c === 0x74 ? 'true' : c === 0x66 ? 'false' : 'null';
      this.literalAt = 1;
    } else {
      this.unexpected(chunk, i);
    }
  }

  /** Whether `c` continues the number. */
  private number(c: number): boolean {
    switch (this.numberState) {
      case N_MINUS:
        if (!isDigit(c)) return false;
        this.numberState = c === 0x30 ? N_ZERO : N_INT;
        return true;
      case N_ZERO:
      case N_INT:
        if (isDigit(c) && this.numberState === N_INT) return true;
        if (c === 0x2e) this.numberState = N_DOT;
        else if (c === 0x65 || c === 0x45) this.numberState = N_E;
        else return false;
        return true;
      case N_DOT:
      case N_FRAC:
        if (isDigit(c)) {
          this.numberState = N_FRAC;
          return true;
        }
        if (this.numberState === N_FRAC && (c === 0x65 || c === 0x45)) {
          this.numberState = N_E;
          return true;
        }
        return false;
      case N_E:
        if (c === 0x2b || c === 0x2d) this.numberState = N_E_SIGN;
        else if (isDigit(c)) this.numberState = N_EXP_DIGITS;
        else return false;
        return true;
      default: // N_E_SIGN, N_EXP_DIGITS
        if (!isDigit(c)) return false;
        this.numberState = N_EXP_DIGITS;
        return true;
    }
  }

  private close(chunk: string, i: number, kind: number): void {
    this.stack.pop();
    if (kind === ARRAY && this.inProjects && this.stack.length === 1) this.inProjects = false;
    this.state = AFTER_VALUE;
    this.valueEnded(chunk, i + 1);
  }

  /** A value (or key) ended just before `end` in this chunk. */
  private valueEnded(chunk: string, end: number): void {
    if (this.stack.length === 0) this.state = DONE;
    if (this.capture === null || this.captureDepth !== this.stack.length) return;
    this.keep(chunk.slice(this.captureFrom, end));
    const what = this.capture;
    const text = this.captured;
    const overflow = this.overflow;
    this.capture = null;
    this.captured = '';
    this.overflow = false;
    if (what === 'key') {
      this.key = overflow ? null : (JSON.parse(text) as string);
    } else if (what === 'meta') {
      if (overflow) throw new IndexFormatError(`JSON \`meta\` is larger than ${MAX_META_CHARS} characters.`);
      const meta = JSON.parse(text) as unknown;
      if (meta === null) return;
      if (!isObject(meta)) throw new IndexFormatError('JSON `meta` is not an object.');
      checkApiVersion(meta['api-version'], 'meta.api-version');
    } else if (!overflow) {
      const entry = JSON.parse(text) as unknown;
      if (isObject(entry) && typeof entry.name === 'string') this.name(entry.name.trim());
    }
  }

  private startCapture(what: Capture, chunk: string, i: number): void {
    this.capture = what;
    this.captured = '';
    this.captureFrom = i;
    this.captureDepth = this.stack.length;
    this.overflow = false;
  }

  private keep(text: string): void {
    if (this.overflow) return;
    const limit = this.capture === 'key' ? MAX_KEY_CHARS : this.capture === 'meta' ? MAX_META_CHARS : MAX_ENTRY_CHARS;
    if (this.captured.length + text.length > limit) {
      this.overflow = true;
      this.captured = '';
    } else {
      this.captured += text;
    }
  }

  private unexpected(chunk: string, i: number): never {
    const c = chunk.charCodeAt(i);
    const shown = c >= 0x20 && c < 0x7f ? `'${chunk[i]}'` : `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
    throw new IndexFormatError(`Invalid JSON project list: unexpected ${shown} at character ${this.offset + i}.`);
  }
}
