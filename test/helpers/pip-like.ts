/**
 * What pip does against an index, in a few requests: read a project page
 * (PEP 691 JSON or PEP 503 HTML, optionally conditional), pick a file, read
 * its PEP 658 metadata and the file itself, and check both against the
 * hashes the page gave. Shared by the soak and hostile-client tests.
 */
import { createHash } from 'node:crypto';

export const JSON_ACCEPT = 'application/vnd.pypi.simple.v1+json';
export const HTML_ACCEPT = 'text/html';

export interface ListedFile {
  filename: string;
  /** Absolute, resolved against the page's URL. */
  url: string;
  sha256: string;
  /** The advertised PEP 658 metadata hash, or null. */
  metadataSha256: string | null;
  /** false, or the reason ('' for a bare yank). */
  yanked: false | string;
}

export interface PageAnswer {
  status: number;
  etag: string | null;
  /** Parsed on a 200; empty otherwise. */
  files: ListedFile[];
  /** The body, for messages. */
  text: string;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** GET a project page; `etag` is sent as If-None-Match. A 200 body that cannot be read throws. */
export async function getPage(pageUrl: string, format: 'json' | 'html', etag?: string | null, signal?: AbortSignal): Promise<PageAnswer> {
  const headers: Record<string, string> = { Accept: format === 'json' ? JSON_ACCEPT : HTML_ACCEPT };
  if (etag) headers['If-None-Match'] = etag;
  const res = await fetch(pageUrl, { headers, signal });
  const text = await res.text();
  const answer: PageAnswer = { status: res.status, etag: res.headers.get('etag'), files: [], text };
  if (res.status !== 200) return answer;
  answer.files = parsePage(text, format, pageUrl);
  return answer;
}

/** The files a project page lists, their URLs resolved against the page's; throws on a page pip could not use. */
export function parsePage(text: string, format: 'json' | 'html', pageUrl: string): ListedFile[] {
  return format === 'json' ? parseJson(text, pageUrl) : parseHtml(text, pageUrl);
}

function parseJson(text: string, pageUrl: string): ListedFile[] {
  type F = { filename: string; url: string; hashes: { sha256: string }; yanked: boolean | string; 'core-metadata'?: false | { sha256: string } };
  const doc = JSON.parse(text) as { files: F[] };
  return doc.files.map((f) => ({
    filename: f.filename,
    url: new URL(f.url, pageUrl).href,
    sha256: f.hashes.sha256,
    metadataSha256: f['core-metadata'] ? f['core-metadata'].sha256 : null,
    yanked: f.yanked === false ? false : f.yanked === true ? '' : f.yanked,
  }));
}

const unescape = (s: string): string => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

function parseHtml(text: string, pageUrl: string): ListedFile[] {
  const files: ListedFile[] = [];
  for (const m of text.matchAll(/<a ([^>]*)>([^<]*)<\/a>/g)) {
    const attrs = new Map([...m[1]!.matchAll(/([a-z-]+)="([^"]*)"/g)].map((a) => [a[1]!, unescape(a[2]!)]));
    const href = attrs.get('href');
    if (!href) throw new Error(`a link without href on ${pageUrl}`);
    const url = new URL(href, pageUrl);
    const hash = /^sha256=([0-9a-f]{64})$/.exec(url.hash.slice(1));
    if (!hash) throw new Error(`a link without #sha256= on ${pageUrl}: ${href}`);
    url.hash = '';
    const meta = attrs.get('data-core-metadata');
    files.push({
      filename: unescape(m[2]!),
      url: url.href,
      sha256: hash[1]!,
      metadataSha256: meta ? meta.replace(/^sha256=/, '') : null,
      yanked: attrs.has('data-yanked') ? attrs.get('data-yanked')! : false,
    });
  }
  return files;
}

/** GET a file (or its .metadata) and check its sha256; throws with the reason on any other outcome. */
export async function getVerified(url: string, expectSha256: string, signal?: AbortSignal): Promise<number> {
  const res = await fetch(url, { signal });
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${body.toString('utf8').slice(0, 200)}`);
  const got = sha256(body);
  if (got !== expectSha256) throw new Error(`GET ${url}: sha256 ${got}, the page said ${expectSha256} (${body.length} bytes)`);
  return body.length;
}

/** One install's worth of requests: the page, then the first file's metadata (if advertised) and bytes. Returns ms taken. */
export async function installRound(pageUrl: string, format: 'json' | 'html' = 'json'): Promise<number> {
  const t0 = performance.now();
  const page = await getPage(pageUrl, format);
  if (page.status !== 200 || page.files.length === 0) throw new Error(`GET ${pageUrl}: ${page.status} ${page.text.slice(0, 200)}`);
  const f = page.files[0]!;
  if (f.metadataSha256) await getVerified(`${f.url}.metadata`, f.metadataSha256);
  await getVerified(f.url, f.sha256);
  return performance.now() - t0;
}

/** `rounds` install rounds, `concurrency` at a time; the time each took, in ms. */
export async function probe(pageUrl: string, rounds: number, concurrency: number): Promise<number[]> {
  const times: number[] = [];
  let left = rounds;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (left-- > 0) times.push(await installRound(pageUrl));
  }));
  return times;
}

/** Install rounds, `concurrency` at a time, started while `keepGoing()` holds; the time each took, in ms. */
export async function probeWhile(pageUrl: string, concurrency: number, keepGoing: () => boolean): Promise<number[]> {
  const times: number[] = [];
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (keepGoing()) times.push(await installRound(pageUrl));
  }));
  return times;
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
