/**
 * A simple index read over HTTP as pip reads it, for commands that run on
 * a node rather than in the server (`pydepot wheels build`): project pages
 * (PEP 691 JSON preferred, PEP 503 HTML understood, both parsed by
 * project-page-parser.ts), PEP 658 core metadata checked against the
 * sha256 the page gives, and files streamed to disk through a sha256 and
 * size check, so nothing unverified is ever read or built.
 *
 * Credentials travel as UpstreamClient sends them: to the index's own
 * origin only, never to a host it links files to.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { buffer, text } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { normalizeName } from '../pypi/names.ts';
import { SIMPLE_V1_HTML, SIMPLE_V1_JSON, TEXT_HTML } from '../pypi/media-types.ts';
import { UpstreamRequestError, type UpstreamClient, type UpstreamResponse } from './client.ts';
import { IndexFormatError } from './index-format.ts';
import { parseProjectPage, type UpstreamProjectPage } from './project-page-parser.ts';

/** What pip sends: JSON first, HTML understood. */
const PAGE_ACCEPT = `${SIMPLE_V1_JSON}, ${SIMPLE_V1_HTML};q=0.2, ${TEXT_HTML};q=0.01`;

/** Core metadata larger than this is not metadata (real files are a few kB; a long description is most of one). */
const MAX_METADATA_BYTES = 16 * 1024 * 1024;

/** The index could not be read, or sent bytes that do not verify: one line, naming the URL. */
export class IndexReadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IndexReadError';
  }
}

export interface ExpectedFile {
  url: string;
  filename: string;
  sha256: string;
  /** From the page (PEP 700), when it says. */
  size: number | null;
}

export class IndexReader {
  constructor(private readonly client: UpstreamClient) {}

  /** The index URL without credentials, ending in `/`. */
  get url(): string {
    return this.client.displayUrl;
  }

  /** The project's page, parsed; null on 404 (no such project). */
  async projectPage(project: string): Promise<UpstreamProjectPage | null> {
    const url = new URL(`${encodeURIComponent(normalizeName(project))}/`, this.client.baseUrl).href;
    const res = await this.get(url, { accept: PAGE_ACCEPT });
    if (res.status === 404) {
      res.body.resume();
      return null;
    }
    await this.expectOk(res, url);
    const body = await text(res.body);
    try {
      return parseProjectPage(body, String(res.headers['content-type'] ?? ''), url);
    } catch (err) {
      if (err instanceof IndexFormatError) throw new IndexReadError(`${url} is not a simple index page: ${err.message}`);
      throw err;
    }
  }

  /**
   * `<file URL>.metadata` (PEP 658; the URL as pip forms it, query kept),
   * checked against `sha256` when the page gave one.
   */
  async coreMetadata(fileUrl: string, sha256: string | null): Promise<Buffer> {
    const url = `${fileUrl}.metadata`;
    const res = await this.get(url, { 'accept-encoding': 'identity' });
    await this.expectOk(res, url);
    const bytes = await buffer(res.body);
    if (bytes.length > MAX_METADATA_BYTES) throw new IndexReadError(`${url} is ${bytes.length} bytes: too large for core metadata`);
    if (sha256 !== null) {
      const got = createHash('sha256').update(bytes).digest('hex');
      if (got !== sha256) throw new IndexReadError(`${url} has sha256 ${got}, but the index page says ${sha256}: refused`);
    }
    return bytes;
  }

  /**
   * Streams the file to `dest` (written beside it, renamed once verified):
   * its sha256 and, when the page gave one, its size must match, else
   * nothing is left at `dest`.
   */
  async download(file: ExpectedFile, dest: string): Promise<void> {
    const res = await this.get(file.url, { 'accept-encoding': 'identity' });
    await this.expectOk(res, file.url);
    const partial = `${dest}.part`;
    const hash = createHash('sha256');
    let size = 0;
    const limit = file.size;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        if (limit !== null && size > limit) return cb(new IndexReadError(`${file.filename}: more bytes than the ${limit} the index page announces; refused`));
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(res.body, counter, createWriteStream(partial));
      if (limit !== null && size !== limit) throw new IndexReadError(`${file.filename}: ${size} bytes, but the index page announces ${limit}; refused`);
      const got = hash.digest('hex');
      if (got !== file.sha256) throw new IndexReadError(`${file.filename} has sha256 ${got}, but the index page says ${file.sha256}; refused`);
      await rename(partial, dest);
    } catch (err) {
      await rm(partial, { force: true });
      if (err instanceof IndexReadError) throw err;
      throw new IndexReadError(`${file.filename}: the download from ${withoutQuery(file.url)} failed (${(err as Error).message})`);
    }
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private async get(url: string, headers: Record<string, string>): Promise<UpstreamResponse> {
    try {
      return await this.client.get(url, headers);
    } catch (err) {
      // The client words it for a server's upstream; here the index is simply an index.
      if (err instanceof UpstreamRequestError) throw new IndexReadError(err.message.replace(/^upstream /, ''));
      throw err;
    }
  }

  private async expectOk(res: UpstreamResponse, url: string): Promise<void> {
    if (res.status === 200) return;
    const reason = firstLine(await text(res.body).catch(() => '')).replace(new RegExp(`^${res.status} `), '');
    const where = withoutQuery(url);
    const hint = res.status === 401 ? ': give credentials (--token, PYDEPOT_TOKEN, or user:password in the URL)'
      : res.status === 403 ? ': these credentials may not read it'
      : '';
    throw new IndexReadError(`${where} answered ${res.status}${reason ? ` (${reason})` : ''}${hint}`);
  }
}

/** Signed file URLs carry secrets in their query string: never print one. */
function withoutQuery(url: string): string {
  const u = new URL(url);
  u.search = '';
  u.username = '';
  u.password = '';
  return u.href;
}

export function firstLine(body: string): string {
  const line = body.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
