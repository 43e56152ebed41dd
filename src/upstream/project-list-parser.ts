/**
 * Reads an upstream root page (the project list, PEP 503 HTML / PEP 691 JSON,
 * API 1.x) as a stream: pypi.org's root is tens of MB, and a proxy that held
 * it whole per refresh would need that much memory for what ends up a list of
 * names, and holding even the names costs tens of MB: the caller takes them
 * in batches as they come (take()) and stores them. Only names are kept: an anchor or entry that does not name a valid
 * project is skipped; a body that is not a simple index at all (bad JSON,
 * wrong top-level shape, API major version other than 1) throws
 * IndexFormatError.
 *
 * Pure: no network, no disk.
 */
import { Parser } from 'htmlparser2';
import { isValidProjectName, normalizeName } from '../pypi/names.ts';
import {
  IndexFormatError, LEADING_SPACE, META_REPOSITORY_VERSION, checkApiVersion, formatOf, type Format,
} from './index-format.ts';
import { RootJsonReader } from './root-json-reader.ts';

/**
 * Streaming parser for the root page (project list): names come out as the
 * page is read, so a list of 700,000 names need not be held to be stored.
 */
export interface ProjectListParser {
  write(chunk: string): void;
  /** How many names wait to be taken. */
  readonly pending: number;
  /**
   * The names found since the last take(): normalized, deduplicated among
   * themselves, in page order (a name may come again in a later take: a
   * store's batched save deduplicates).
   */
  take(): string[];
  /**
   * Ends the page and returns the names not taken yet: without take(), every
   * name of the page, deduplicated, in page order.
   */
  end(): string[];
}

/** Anchor text longer than this is not a project name; the href is used instead. */
const MAX_ANCHOR_TEXT = 1024;

/** The project name an href points at: its last non-empty path segment (`/simple/foo/` → `foo`). */
function nameFromHref(href: string): string | null {
  let url: URL;
  try {
    url = new URL(href, 'http://root.invalid/');
  } catch {
    return null;
  }
  const segments = url.pathname.split('/').filter((s) => s !== '');
  const last = segments[segments.length - 1];
  if (last === undefined) return null;
  try {
    return decodeURIComponent(last);
  } catch {
    return null;
  }
}

/** The root page's names, fed by htmlparser2's streaming parser. */
function htmlRootSink(addProjectName: (candidate: string) => boolean, fail: (err: IndexFormatError) => void): Parser {
  let anchor: { href: string | undefined; text: string; overflow: boolean } | null = null;
  let versionSeen = false;

  const finish = (): void => {
    if (anchor === null) return;
    const { href, text, overflow } = anchor;
    anchor = null;
    // The text is the (display) name; some indexes leave it empty or put
    // something else there, then the href names the project.
    if (!overflow && addProjectName(text.trim())) return;
    const fromHref = href === undefined ? null : nameFromHref(href);
    if (fromHref !== null) addProjectName(fromHref);
  };

  return new Parser({
    onopentag(name, attribs) {
      if (name === 'a') {
        finish(); // <a> does not nest; htmlparser2 closes the previous one too
        anchor = { href: attribs.href, text: '', overflow: false };
      } else if (name === 'meta' && !versionSeen
        && attribs.name?.trim().toLowerCase() === META_REPOSITORY_VERSION && attribs.content !== undefined) {
        versionSeen = true;
        try {
          checkApiVersion(attribs.content, `<meta name="${META_REPOSITORY_VERSION}">`);
        } catch (err) {
          fail(err as IndexFormatError);
        }
      }
    },
    ontext(data) {
      if (anchor === null || anchor.overflow) return;
      if (anchor.text.length + data.length > MAX_ANCHOR_TEXT) {
        anchor.overflow = true;
        anchor.text = '';
      } else {
        anchor.text += data;
      }
    },
    onclosetag(name) {
      if (name === 'a') finish();
    },
    onend() {
      finish();
    },
  });
}

/**
 * A streaming root-page parser. HTML goes through htmlparser2 chunk by chunk,
 * JSON through RootJsonReader (root-json-reader.ts: stream-json's tokenizer,
 * one entry assembled at a time): memory is the names not taken yet plus the
 * parser's unconsumed tail, whatever the page's size.
 * With no usable Content-Type the format is sniffed from the first non-blank
 * character.
 */
export function createProjectListParser(contentType: string): ProjectListParser {
  let names = new Set<string>();
  let format: Format | null = formatOf(contentType);
  let html: Parser | null = null;
  let json: RootJsonReader | null = null;
  let error: IndexFormatError | null = null;
  let ended = false;

  const add = (candidate: string): boolean => {
    if (!isValidProjectName(candidate)) return false;
    names.add(normalizeName(candidate));
    return true;
  };
  const fail = (err: IndexFormatError): void => {
    error ??= err;
  };
  const rethrow = (): void => {
    if (error !== null) throw error;
  };
  /** The JSON reader's IndexFormatError is kept: every later call reports it too. */
  const guarded = (step: () => void): void => {
    try {
      step();
    } catch (err) {
      if (!(err instanceof IndexFormatError)) throw err;
      fail(err);
    }
  };
  const take = (): string[] => {
    const out = [...names];
    names = new Set();
    return out;
  };

  const feed = (chunk: string): void => {
    if (format === 'json') {
      json ??= new RootJsonReader((name) => void add(name));
      const reader = json;
      guarded(() => reader.write(chunk));
    } else {
      html ??= htmlRootSink(add, fail);
      html.write(chunk);
    }
  };

  return {
    write(chunk: string): void {
      if (ended) throw new Error('ProjectListParser.write() after end()');
      rethrow();
      let data = chunk;
      if (format === null) {
        // Undecided: leading blanks say nothing and are dropped.
        data = data.replace(LEADING_SPACE, '');
        if (data === '') return;
        format = data.startsWith('{') ? 'json' : 'html';
      }
      feed(data);
      rethrow();
    },
    get pending(): number {
      return names.size;
    },
    take,
    end(): string[] {
      if (ended) throw new Error('ProjectListParser.end() called twice');
      ended = true;
      rethrow();
      if (format === 'json') {
        const reader = json ?? new RootJsonReader(() => undefined);
        guarded(() => reader.end());
      } else {
        html?.end();
      }
      rethrow();
      return take();
    },
  };
}
