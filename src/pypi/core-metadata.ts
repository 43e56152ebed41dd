/**
 * Core metadata (a wheel's METADATA, an sdist's PKG-INFO), parsed the way
 * Python's `email` parser with the compat32 policy reads it, which is what
 * packaging, pip and warehouse use.
 */
import { InvalidDistribution } from '../errors.ts';
import { isValidProjectName } from './names.ts';

export interface CoreMetadata {
  metadataVersion: string;
  name: string;
  version: string;
  summary: string | null;
  requiresPython: string | null;
  requiresDist: string[];
  providesExtra: string[];
  classifiers: string[];
  /** "Label, URL" */
  projectUrls: string[];
  author: string | null;
  authorEmail: string | null;
  maintainer: string | null;
  maintainerEmail: string | null;
  license: string | null;
  licenseExpression: string | null;
  homePage: string | null;
  downloadUrl: string | null;
  keywords: string | null;
  /** the body after the headers (2.1+), else the Description header */
  description: string | null;
  descriptionContentType: string | null;
  platforms: string[];
  dynamic: string[];
  /** every header, lowercased key → values in order */
  fields: Record<string, string[]>;
}

const SPEC_URL = 'https://packaging.python.org/specifications/core-metadata';

// compat32's headerRE: a field name is printable ASCII without ':' or space.
const HEADER_LINE = /^([\x21-\x39\x3b-\x7e]+):(.*)$/;

function quote(s: string): string {
  return `'${s.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}'`;
}

interface RawHeader { key: string; lines: string[] }

function splitHeadersAndBody(text: string): { headers: RawHeader[]; body: string } {
  // Python's parser splits on \r\n, \r and \n alike.
  const lines = text.split(/\r\n|\r|\n/);
  const headers: RawHeader[] = [];
  let i = 0;
  for (; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line === '') {
      i++; // the separator belongs to neither part
      break;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      // A continuation before any header is dropped, as compat32 does.
      headers.at(-1)?.lines.push(line);
      continue;
    }
    const m = HEADER_LINE.exec(line);
    // compat32 starts the body at the first line that is not a header, even
    // without a blank line before it.
    if (m === null) break;
    headers.push({ key: (m[1] ?? '').toLowerCase(), lines: [m[2] ?? ''] });
  }
  return { headers, body: lines.slice(i).join('\n') };
}

function headerValue(lines: string[]): string {
  if (lines.length === 1) return (lines[0] ?? '').trim();
  // Folded values keep their continuation lines verbatim (indentation included),
  // as compat32 returns them; only the edges are trimmed.
  const [first = '', ...rest] = lines;
  return [first.replace(/^[ \t]+/, ''), ...rest].join('\n').trimEnd();
}

/**
 * Parses METADATA / PKG-INFO text. Throws InvalidDistribution when
 * Metadata-Version, Name or Version is missing or repeated, when Name is not a
 * valid project name, or when the Metadata-Version major is not 1 or 2. The
 * Version is not checked against PEP 440 here: that is upload policy.
 */
export function parseCoreMetadata(text: string): CoreMetadata {
  const { headers, body } = splitHeadersAndBody(text.startsWith('\uFEFF') ? text.slice(1) : text);

  // No prototype: a header named `__proto__` must stay a plain key.
  const fields = Object.create(null) as Record<string, string[]>;
  for (const h of headers) {
    (fields[h.key] ??= []).push(headerValue(h.lines));
  }

  const optional = (key: string): string | null => {
    const v = fields[key]?.[0]?.trim();
    return v === undefined || v === '' ? null : v;
  };
  const list = (key: string): string[] =>
    (fields[key] ?? []).map((v) => v.trim()).filter((v) => v !== '');
  const required = (key: string, label: string): string => {
    const values = fields[key] ?? [];
    if (values.length > 1) {
      throw new InvalidDistribution(`Metadata field '${label}' appears ${values.length} times; it must appear once.`);
    }
    const v = values[0]?.trim();
    if (v === undefined || v === '') {
      throw new InvalidDistribution(`Metadata is missing the required field '${label}'.`);
    }
    return v;
  };

  const metadataVersion = required('metadata-version', 'Metadata-Version');
  const major = /^([0-9]+)(?:\.[0-9]+)*$/.exec(metadataVersion)?.[1];
  if (major !== '1' && major !== '2') {
    throw new InvalidDistribution(
      `${quote(metadataVersion)} is an invalid value for Metadata-Version. Error: Unknown Metadata Version, expected 1.x or 2.x. See ${SPEC_URL} for more information.`,
    );
  }
  const name = required('name', 'Name');
  if (!isValidProjectName(name)) {
    throw new InvalidDistribution(
      `${quote(name)} is an invalid value for Name. Error: Start and end with a letter or numeral containing only ASCII numeric and '.', '_' and '-'. See ${SPEC_URL} for more information.`,
    );
  }
  const version = required('version', 'Version');

  return {
    metadataVersion,
    name,
    version,
    summary: optional('summary'),
    requiresPython: optional('requires-python'),
    requiresDist: list('requires-dist'),
    providesExtra: list('provides-extra'),
    classifiers: list('classifier'),
    projectUrls: list('project-url'),
    author: optional('author'),
    authorEmail: optional('author-email'),
    maintainer: optional('maintainer'),
    maintainerEmail: optional('maintainer-email'),
    license: optional('license'),
    licenseExpression: optional('license-expression'),
    homePage: optional('home-page'),
    downloadUrl: optional('download-url'),
    keywords: optional('keywords'),
    // A folded Description header (1.x) keeps its continuation lines' indentation, as compat32 returns them.
    description: body.trim() !== '' ? body : (fields.description?.[0] || null),
    descriptionContentType: optional('description-content-type'),
    platforms: list('platform'),
    dynamic: list('dynamic'),
    fields,
  };
}
