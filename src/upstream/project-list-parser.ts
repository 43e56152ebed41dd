/**
 * Reads an upstream root page (the project list, PEP 503 HTML / PEP 691 JSON,
 * API 1.x) as a stream: pypi.org's root is tens of MB, and a proxy that held
 * it whole per refresh would need that much memory for what ends up a list of
 * names. Only names are kept: an anchor or entry that does not name a valid
 * project is skipped; a body that is not a simple index at all (bad JSON,
 * wrong top-level shape, API major version other than 1) throws
 * IndexFormatError.
 *
 * Pure: no network, no disk.
 */
import { Parser } from 'htmlparser2';
import { isValidProjectName, normalizeName } from '../pypi/names.ts';
import {
  IndexFormatError, LEADING_SPACE, META_REPOSITORY_VERSION, checkApiVersion, formatOf, isObject,
  jsonApiVersion, parseJsonObject, type Format,
} from './index-format.ts';

/** Streaming parser for the root page (project list). */
export interface ProjectListParser {
  write(chunk: string): void;
  /** Normalized project names, deduplicated, in page order. */
  end(): string[];
}

export interface ProjectListParserOptions {
  /**
   * The JSON root is buffered and parsed at `end()`; beyond this many
   * characters `write` throws IndexFormatError. pypi.org's JSON root is a few
   * tens of MB; V8 strings cannot exceed ~512 Mi characters anyway.
   */
  maxJsonChars?: number;
}

const DEFAULT_MAX_JSON_CHARS = 256 * 1024 * 1024;

/** Anchor text longer than this is not a project name; the href is used instead. */
const MAX_ANCHOR_TEXT = 1024;

function addProjectName(names: Set<string>, candidate: string): boolean {
  if (!isValidProjectName(candidate)) return false;
  names.add(normalizeName(candidate));
  return true;
}

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
function htmlRootSink(names: Set<string>, fail: (err: IndexFormatError) => void): Parser {
  let anchor: { href: string | undefined; text: string; overflow: boolean } | null = null;
  let versionSeen = false;

  const finish = (): void => {
    if (anchor === null) return;
    const { href, text, overflow } = anchor;
    anchor = null;
    // The text is the (display) name; some indexes leave it empty or put
    // something else there, then the href names the project.
    if (!overflow && addProjectName(names, text.trim())) return;
    const fromHref = href === undefined ? null : nameFromHref(href);
    if (fromHref !== null) addProjectName(names, fromHref);
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

function parseJsonRoot(body: string, names: Set<string>): void {
  const doc = parseJsonObject(body, 'project list');
  jsonApiVersion(doc);
  if (!Array.isArray(doc.projects)) throw new IndexFormatError('JSON project list has no `projects` array.');
  for (const p of doc.projects) {
    if (isObject(p) && typeof p.name === 'string') addProjectName(names, p.name.trim());
  }
}

/**
 * A streaming root-page parser. HTML goes through htmlparser2 chunk by chunk
 * (memory: the names plus the parser's unconsumed tail). The JSON root is
 * buffered and parsed at `end()` (up to `maxJsonChars`): a streaming JSON
 * parser is not worth it for a few tens of MB. With no usable Content-Type
 * the format is sniffed from the first non-blank character.
 */
export function createProjectListParser(
  contentType: string,
  options: ProjectListParserOptions = {},
): ProjectListParser {
  const maxJsonChars = options.maxJsonChars ?? DEFAULT_MAX_JSON_CHARS;
  const names = new Set<string>();
  let format: Format | null = formatOf(contentType);
  let html: Parser | null = null;
  const jsonChunks: string[] = [];
  let jsonChars = 0;
  let error: IndexFormatError | null = null;
  let ended = false;

  const fail = (err: IndexFormatError): void => {
    error ??= err;
  };
  const rethrow = (): void => {
    if (error !== null) throw error;
  };

  const feed = (chunk: string): void => {
    if (format === 'json') {
      jsonChars += chunk.length;
      if (jsonChars > maxJsonChars) {
        jsonChunks.length = 0;
        fail(new IndexFormatError(`JSON project list larger than ${maxJsonChars} characters.`));
        return;
      }
      jsonChunks.push(chunk);
    } else {
      html ??= htmlRootSink(names, fail);
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
    end(): string[] {
      if (ended) throw new Error('ProjectListParser.end() called twice');
      ended = true;
      rethrow();
      if (format === 'json') {
        const body = jsonChunks.join('');
        jsonChunks.length = 0;
        parseJsonRoot(body, names);
      } else {
        html?.end();
        rethrow();
      }
      return [...names];
    },
  };
}
