/**
 * A fake upstream index (pypi.org + files.pythonhosted.org) on loopback, for
 * the tests of pydepot's "remote" repositories: they must never leave 127.0.0.1.
 *
 * It speaks the simple API the way pypi.org does (see /work/shared/PROTOCOL.md
 * §2, §3, §10): PEP 503 HTML and PEP 691 JSON with pypi.org's negotiation
 * (q-values, `text/html` wins ties, nothing acceptable ⇒ HTML), `?format=`,
 * ETag + 304, `Cache-Control: max-age=600, public`, `Vary: Accept`,
 * `X-PyPI-Last-Serial`, 301 for non-normalized or slash-less names, 404 as
 * `text/plain`, and PyPI's oddities on purpose (the `data-dist-info-metadata`
 * JSON key, an unknown `_pydepot-test-unknown` key, api-version 1.4 with
 * `project-status`), so pydepot's parser is exercised for tolerance.
 *
 * Files live at files.pythonhosted.org-style paths
 * `/packages/<b2[0:2]>/<b2[2:4]>/<b2[4:]>/<filename>` (b2 = blake2b-256 hex),
 * with `<filename>.metadata` next to wheels. Linked relatively
 * (`../../packages/…`) by default; see {@link FakeUpstreamOptions}.
 *
 * Faults ({@link Faults}) are injected globally (`up.faults`, mutable any time),
 * per page (`pageFaults`) or per served file (`fileFaults`); the specific ones
 * override the global ones key by key. Every request is logged in `requests`.
 *
 * The code is deliberately self-contained (it imports nothing from src/), so a
 * failing remote-repository test points at pydepot, not at shared code.
 *
 * Usage:
 *   const up = await FakeUpstream.start(t);
 *   up.addProject('Acme.Core', [{ dist: await buildWheel({ name: 'Acme.Core', version: '1.0' }) }]);
 *   // configure pydepot with { type: 'remote', url: up.url }
 *   up.fileFaults('acme_core-1.0-py3-none-any.whl', { corrupt: true });
 *   t.is(up.count(up.pageUrl('acme-core')), 1);
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ExecutionContext } from 'ava';
import type { BuiltDist } from './dists.ts';

export const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';
export const V1_HTML_TYPE = 'application/vnd.pypi.simple.v1+html';

export type ProjectStatus = 'active' | 'archived' | 'quarantined' | 'deprecated';

export interface UpstreamFile {
  /** Bytes, filename, sha256, metadata, blake2b256 (from buildWheel/buildSdist). */
  dist: BuiltDist;
  /** Emitted as `requires-python` / `data-requires-python` (HTML-escaped). */
  requiresPython?: string;
  /** `true` (HTML `data-yanked=""`) or a reason string. */
  yanked?: boolean | string;
  /** Serve `<file>.metadata` and advertise `core-metadata` (+ `data-dist-info-metadata`). Default: true for wheels. */
  withMetadata?: boolean;
  /** JSON `upload-time`; default `2020-01-01T00:00:00.000000Z`. */
  uploadTime?: string;
}

export interface Faults {
  /** Delay before the response headers (or before the fault status). */
  latencyMs?: number;
  /** Bandwidth cap for bodies (files, metadata, pages): chunks of min(16 KiB, rate/10), paced with timers. */
  bytesPerSecond?: number;
  /** Answer with this status and a short `text/plain` body instead of the real response. */
  status?: number;
  /**
   * Destroy the socket without answering. Global: on connect (and on any request of an
   * already open keep-alive connection); per page/file: as soon as the request arrives.
   * For a truly refused port use `stop()` / `restart()`.
   */
  refuse?: boolean;
  /** Send the full Content-Length, but only the first N body bytes, then destroy the socket. */
  truncateAt?: number;
  /**
   * Flip bytes (the first and the middle one) of the body: same length, wrong sha256.
   * Applies to files and `.metadata` bodies; to a page body only when set with `pageFaults()`.
   */
  corrupt?: boolean;
}

export interface FakeUpstreamOptions {
  /**
   * 'both' (default): negotiate like pypi.org. 'html': an HTML-only index (PyTorch style),
   * always `text/html`, Accept ignored. 'json': JSON-only, 406 when the client does not accept it.
   */
  format?: 'json' | 'html' | 'both';
  /** Serve files from a second server on another port, linked with absolute URLs (files.pythonhosted.org). */
  separateFilesHost?: boolean;
  /** Link files with absolute `http://127.0.0.1:PORT/packages/…` URLs instead of `../../packages/…`. */
  absoluteUrls?: boolean;
  /** Append `?token=abc` to every file URL (the server ignores query strings). */
  queryStrings?: boolean;
  /**
   * HTTP Range on files and `.metadata`: 'ignore' (default) answers 200 with the whole body;
   * 'support' answers one range (`a-b`, `a-`, `-n`) with 206 + Content-Range (416 when
   * unsatisfiable; several ranges or nonsense get the whole body, as servers do), with
   * `Accept-Ranges: bytes`; 'refuse' answers any Range request with 416.
   */
  ranges?: 'ignore' | 'support' | 'refuse';
}

export interface LoggedRequest {
  /** Which listener answered: 'files' only with `separateFilesHost`. */
  server: 'index' | 'files';
  method: string;
  /** Request path WITHOUT the query string, as sent (not percent-decoded). */
  path: string;
  /** Raw request target, query string included. */
  url: string;
  headers: IncomingHttpHeaders;
  /** Status sent; 0 when the socket was destroyed before any status (refuse). */
  status: number;
  /** Body bytes handed to the socket (fewer than sent when the client hung up). */
  bytesSent: number;
}

export type Which = 'all' | 'index' | 'files';

interface Project {
  name: string;
  normalized: string;
  files: UpstreamFile[];
  status?: ProjectStatus;
  statusReason?: string;
  serial: number;
}

interface Host {
  role: 'index' | 'files';
  server: Server;
  port: number;
  listening: boolean;
}

type Route =
  | { kind: 'root' }
  | { kind: 'redirect'; location: string; project?: string }
  | { kind: 'page'; project: string }
  | { kind: 'file'; file: UpstreamFile; metadata: boolean }
  | { kind: 'notfound'; project?: string };

type Representation = 'json' | 'v1html' | 'texthtml';

const DEFAULT_UPLOAD_TIME = '2020-01-01T00:00:00.000000Z';
const MAX_CHUNK = 16 * 1024;
const OFFERS: Array<[Representation, string]> = [
  ['texthtml', 'text/html'],
  ['v1html', V1_HTML_TYPE],
  ['json', JSON_TYPE],
];

export class FakeUpstream {
  /** Global faults, applied to every request of both listeners; mutable at any time. */
  faults: Faults = {};
  /** Every request received, in arrival order (logged before any fault or latency). */
  readonly requests: LoggedRequest[] = [];
  /** Connections destroyed on connect by the global `refuse` fault. */
  refusedConnections = 0;

  private readonly options: Required<FakeUpstreamOptions>;
  private readonly projects = new Map<string, Project>();
  private readonly perFile = new Map<string, Faults>();
  private readonly perPage = new Map<string, Faults>();
  private readonly index: Host;
  private readonly files: Host | undefined;
  private serial = 0;

  private constructor(opts: FakeUpstreamOptions) {
    this.options = {
      format: opts.format ?? 'both',
      separateFilesHost: opts.separateFilesHost ?? false,
      absoluteUrls: opts.absoluteUrls ?? false,
      queryStrings: opts.queryStrings ?? false,
      ranges: opts.ranges ?? 'ignore',
    };
    this.index = this.makeHost('index');
    this.files = this.options.separateFilesHost ? this.makeHost('files') : undefined;
  }

  /** Starts the fake on 127.0.0.1 (random ports); stopped by `t.teardown`. */
  static async start(t: ExecutionContext, opts: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
    const up = new FakeUpstream(opts);
    t.teardown(() => up.stop());
    await up.restart();
    return up;
  }

  /** `http://127.0.0.1:PORT` of the index. */
  get origin(): string {
    return `http://127.0.0.1:${this.index.port}`;
  }

  /** The index base URL, `http://127.0.0.1:PORT/simple/`. */
  get url(): string {
    return `${this.origin}/simple/`;
  }

  /** `http://127.0.0.1:PORT` of the host serving files (the index itself unless `separateFilesHost`). */
  get filesOrigin(): string {
    return `http://127.0.0.1:${(this.files ?? this.index).port}`;
  }

  /** `http://127.0.0.1:PORT/simple/<normalized>/`. */
  pageUrl(project: string): string {
    return `${this.url}${normalize(project)}/`;
  }

  /** Absolute URL (no query string) where `filename` (or `filename.metadata`) is served. */
  fileUrl(filename: string): string {
    const metadata = filename.endsWith('.metadata');
    const base = metadata ? filename.slice(0, -'.metadata'.length) : filename;
    const file = this.findFile(base);
    if (file === undefined) throw new Error(`fake upstream: no file ${base}`);
    return `${this.filesOrigin}${filePath(file.dist)}${metadata ? '.metadata' : ''}`;
  }

  /** Adds or replaces a project (display name kept, looked up normalized); bumps its serial and ETag. */
  addProject(name: string, files: UpstreamFile[], opts: { status?: ProjectStatus; reason?: string } = {}): void {
    const normalized = normalize(name);
    this.serial += 1;
    this.projects.set(normalized, {
      name,
      normalized,
      files: [...files],
      ...(opts.status === undefined ? {} : { status: opts.status }),
      ...(opts.reason === undefined ? {} : { statusReason: opts.reason }),
      serial: this.serial,
    });
  }

  /** Removes a project: its page and files then answer 404. */
  removeProject(name: string): void {
    if (this.projects.delete(normalize(name))) this.serial += 1;
  }

  /** Faults for one served file, by exact name: `x.whl` (the file) or `x.whl.metadata`. `{}` clears. */
  fileFaults(filename: string, f: Faults): void {
    this.perFile.set(filename, { ...f });
  }

  /** Faults for one project page (any spelling of the name; includes its redirects). `{}` clears. */
  pageFaults(project: string, f: Faults): void {
    this.perPage.set(normalize(project), { ...f });
  }

  /** Clears global, per-file and per-page faults. */
  clearFaults(): void {
    this.faults = {};
    this.perFile.clear();
    this.perPage.clear();
  }

  /**
   * Number of logged requests whose path (no query string) equals `path`, or that match the predicate.
   * An absolute URL is accepted too (its pathname is used), e.g. `up.count(up.pageUrl('foo'))`.
   */
  count(pathOrPredicate: string | ((r: LoggedRequest) => boolean)): number {
    if (typeof pathOrPredicate === 'function') return this.requests.filter(pathOrPredicate).length;
    const path = /^https?:\/\//.test(pathOrPredicate) ? new URL(pathOrPredicate).pathname : pathOrPredicate.split('?')[0]!;
    return this.requests.filter((r) => r.path === path).length;
  }

  /** Empties `requests` and `refusedConnections`. */
  resetCounts(): void {
    this.requests.length = 0;
    this.refusedConnections = 0;
  }

  /** Closes the listener(s) and destroys every open connection: "upstream down". Idempotent. */
  async stop(which: Which = 'all'): Promise<void> {
    await Promise.all(this.hosts(which).map((h) => closeHost(h)));
  }

  /** Listens again on the SAME port(s) (a random one the first time). No-op for running listeners. */
  async restart(which: Which = 'all'): Promise<void> {
    for (const h of this.hosts(which)) await listenHost(h);
  }

  // --- internals ---------------------------------------------------------

  private hosts(which: Which): Host[] {
    const all = [this.index, ...(this.files ? [this.files] : [])];
    return which === 'all' ? all : all.filter((h) => h.role === which);
  }

  private makeHost(role: 'index' | 'files'): Host {
    const server = createServer((req, res) => {
      this.handle(role, req, res).catch((err: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`fake upstream bug: ${String(err)}\n`);
        } else {
          res.destroy();
        }
      });
    });
    server.on('connection', (socket: Socket) => {
      if (this.faults.refuse === true) {
        this.refusedConnections += 1;
        socket.destroy();
      }
    });
    return { role, server, port: 0, listening: false };
  }

  private findFile(filename: string): UpstreamFile | undefined {
    for (const p of this.projects.values()) {
      if (p.status === 'quarantined') continue;
      for (const f of p.files) if (f.dist.filename === filename) return f;
    }
    return undefined;
  }

  private route(role: 'index' | 'files', path: string, query: string): Route {
    if (path.startsWith('/packages/') && (role === 'files' || this.files === undefined)) {
      let decoded: string;
      try {
        decoded = decodeURIComponent(path);
      } catch {
        return { kind: 'notfound' };
      }
      const metadata = decoded.endsWith('.metadata');
      const base = metadata ? decoded.slice(0, -'.metadata'.length) : decoded;
      const file = this.findFile(base.slice(base.lastIndexOf('/') + 1));
      if (file === undefined || decodeURIComponent(filePath(file.dist)) !== base) return { kind: 'notfound' };
      if (metadata && !hasMetadata(file)) return { kind: 'notfound' };
      return { kind: 'file', file, metadata };
    }
    if (role === 'files') return { kind: 'notfound' };
    const q = query === '' ? '' : `?${query}`;
    if (path === '/simple') return { kind: 'redirect', location: `/simple/${q}` };
    if (path === '/simple/') return { kind: 'root' };
    const m = /^\/simple\/([^/]+)(\/?)$/.exec(path);
    if (m === null) return { kind: 'notfound' };
    let name: string;
    try {
      name = decodeURIComponent(m[1]!);
    } catch {
      return { kind: 'notfound' };
    }
    const normalized = normalize(name);
    if (name !== normalized || m[2] !== '/') {
      return { kind: 'redirect', location: `/simple/${encodeURIComponent(normalized)}/${q}`, project: normalized };
    }
    return this.projects.has(normalized) ? { kind: 'page', project: normalized } : { kind: 'notfound', project: normalized };
  }

  private faultsFor(route: Route): Faults {
    const global = defined(this.faults);
    delete global.corrupt; // global corruption is for downloads only
    if (route.kind === 'file') {
      const name = route.file.dist.filename + (route.metadata ? '.metadata' : '');
      return { ...global, corrupt: this.faults.corrupt, ...defined(this.perFile.get(name) ?? {}) };
    }
    const project = route.kind === 'page' ? route.project : route.kind === 'redirect' || route.kind === 'notfound' ? route.project : undefined;
    if (project !== undefined) return { ...global, ...defined(this.perPage.get(project) ?? {}) };
    return global;
  }

  private async handle(role: 'index' | 'files', req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const qi = raw.indexOf('?');
    const path = qi === -1 ? raw : raw.slice(0, qi);
    const query = qi === -1 ? '' : raw.slice(qi + 1);
    const entry: LoggedRequest = { server: role, method: req.method ?? 'GET', path, url: raw, headers: req.headers, status: 0, bytesSent: 0 };
    this.requests.push(entry);
    const route = this.route(role, path, query);
    const f = this.faultsFor(route);
    const socket = req.socket;

    if (f.refuse === true) {
      socket.destroy();
      return;
    }
    if (f.latencyMs !== undefined && f.latencyMs > 0) {
      await sleep(f.latencyMs);
      if (socket.destroyed) return;
    }
    if (f.status !== undefined) {
      const body = Buffer.from(`${f.status} fake upstream fault\n`);
      return this.send(req, res, entry, f.status, { 'content-type': 'text/plain; charset=utf-8' }, body, f, false);
    }
    if (entry.method !== 'GET' && entry.method !== 'HEAD') {
      const body = Buffer.from('405 Method Not Allowed\n');
      return this.send(req, res, entry, 405, { 'content-type': 'text/plain; charset=utf-8', allow: 'GET, HEAD' }, body, f, false);
    }

    switch (route.kind) {
      case 'notfound':
        return this.send(req, res, entry, 404, { 'content-type': 'text/plain; charset=utf-8' }, Buffer.from('404 Not Found'), f, false);
      case 'redirect':
        return this.send(req, res, entry, 301, { location: route.location, 'content-type': 'text/plain; charset=utf-8' }, Buffer.from(`301 Moved Permanently\n`), f, false);
      case 'file': {
        const body = route.metadata ? route.file.dist.metadata : route.file.dist.bytes;
        const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'cache-control': 'max-age=365000000, immutable, public', 'access-control-allow-origin': '*' };
        const range = req.headers.range;
        if (this.options.ranges === 'support') headers['accept-ranges'] = 'bytes';
        if (range !== undefined && this.options.ranges === 'refuse') {
          return this.send(req, res, entry, 416, { 'content-type': 'text/plain; charset=utf-8' }, Buffer.from('416 ranges not supported\n'), f, false);
        }
        if (range !== undefined && this.options.ranges === 'support') {
          const r = parseRange(range, body.length);
          if (r === 'unsatisfiable') {
            return this.send(req, res, entry, 416, { 'content-type': 'text/plain; charset=utf-8', 'content-range': `bytes */${body.length}` }, Buffer.from('416\n'), f, false);
          }
          if (r !== null) {
            const part = (f.corrupt === true ? flipBytes(body) : body).subarray(r.start, r.end + 1);
            return this.send(req, res, entry, 206, { ...headers, 'content-range': `bytes ${r.start}-${r.end}/${body.length}` }, part, { ...f, corrupt: false }, false);
          }
        }
        return this.send(req, res, entry, 200, headers, body, f, true);
      }
      case 'root':
      case 'page': {
        const rep = this.negotiate(req.headers.accept, query);
        if (rep === undefined) {
          return this.send(req, res, entry, 406, { 'content-type': 'text/plain; charset=utf-8', vary: 'Accept' }, Buffer.from('406 Not Acceptable\n'), f, false);
        }
        const project = route.kind === 'page' ? this.projects.get(route.project)! : undefined;
        const body = Buffer.from(
          project === undefined
            ? rep === 'json' ? this.rootJson() : this.rootHtml()
            : rep === 'json' ? this.pageJson(project) : this.pageHtml(project),
          'utf8',
        );
        const etag = `"${createHash('md5').update(body).digest('hex')}"`;
        const headers: Record<string, string> = {
          'content-type': rep === 'json' ? JSON_TYPE : rep === 'v1html' ? `${V1_HTML_TYPE}; charset=utf-8` : 'text/html; charset=utf-8',
          'cache-control': 'max-age=600, public',
          vary: 'Accept',
          etag,
          'x-pypi-last-serial': String(project?.serial ?? this.serial),
          'access-control-allow-origin': '*',
        };
        if (etagMatches(req.headers['if-none-match'], etag)) {
          entry.status = 304;
          delete headers['content-type'];
          res.writeHead(304, headers);
          res.end();
          return;
        }
        return this.send(req, res, entry, 200, headers, body, f, route.kind === 'page' && this.perPage.get(route.project)?.corrupt === true);
      }
    }
  }

  /** Picks the representation; undefined ⇒ 406. */
  private negotiate(accept: string | undefined, query: string): Representation | undefined {
    const format = this.options.format;
    if (format === 'html') return 'texthtml';
    const offers = format === 'json' ? OFFERS.filter(([r]) => r === 'json') : OFFERS;
    const requested = new URLSearchParams(query).get('format');
    if (requested !== null) {
      const type = requested.replace('.latest+', '.v1+').toLowerCase();
      const hit = offers.find(([, t]) => t === type);
      if (hit) return hit[0];
    }
    const ranges = parseAccept(accept);
    let best: Representation | undefined;
    let bestQ = 0;
    for (const [rep, type] of offers) {
      const q = qualityOf(type, ranges);
      if (q > bestQ) {
        best = rep;
        bestQ = q;
      }
    }
    // pypi.org never answers 406: nothing acceptable ⇒ text/html.
    return best ?? (format === 'both' ? 'texthtml' : undefined);
  }

  private fileHref(dist: BuiltDist): string {
    const path = filePath(dist);
    let url: string;
    if (this.files !== undefined) url = `${this.filesOrigin}${path}`;
    else if (this.options.absoluteUrls) url = `${this.origin}${path}`;
    else url = `../..${path}`;
    return this.options.queryStrings ? `${url}?token=abc` : url;
  }

  private listed(p: Project): UpstreamFile[] {
    return p.status === 'quarantined' ? [] : p.files;
  }

  private apiVersion(p?: Project): string {
    return p?.status === undefined ? '1.1' : '1.4';
  }

  private rootJson(): string {
    const projects = [...this.projects.values()].map((p) => ({ name: p.name, '_last-serial': p.serial }));
    return JSON.stringify({ meta: { 'api-version': '1.1', '_last-serial': this.serial }, projects });
  }

  private rootHtml(): string {
    const links = [...this.projects.values()].map((p) => `    <a href="/simple/${esc(encodeURIComponent(p.normalized))}/">${esc(p.name)}</a>`);
    return [
      '<!DOCTYPE html>',
      '<html lang="en">',
      '  <head>',
      '    <meta name="pypi:repository-version" content="1.1">',
      '    <title>Simple index</title>',
      '  </head>',
      '  <body>',
      ...links,
      '  </body>',
      '</html>',
      `<!--SERIAL ${this.serial}-->`,
      '',
    ].join('\n');
  }

  private pageJson(p: Project): string {
    const files = this.listed(p).map((f) => {
      const meta = hasMetadata(f) ? { sha256: sha256(f.dist.metadata) } : false;
      return {
        filename: f.dist.filename,
        url: this.fileHref(f.dist),
        hashes: { sha256: f.dist.sha256 },
        'requires-python': f.requiresPython ?? null,
        size: f.dist.bytes.length,
        'upload-time': f.uploadTime ?? DEFAULT_UPLOAD_TIME,
        yanked: f.yanked === undefined || f.yanked === false ? false : f.yanked === true || f.yanked === '' ? true : f.yanked,
        'data-dist-info-metadata': meta,
        'core-metadata': meta,
        provenance: null,
        '_pydepot-test-unknown': 1,
      };
    });
    const versions = [...new Set(this.listed(p).map((f) => versionOf(f.dist.filename)))];
    const doc: Record<string, unknown> = {
      meta: { 'api-version': this.apiVersion(p), '_last-serial': p.serial },
      name: p.normalized,
      versions,
      files,
      '_pydepot-test-unknown': 1,
    };
    if (p.status !== undefined) doc['project-status'] = { status: p.status, ...(p.statusReason === undefined ? {} : { reason: p.statusReason }) };
    return JSON.stringify(doc);
  }

  private pageHtml(p: Project): string {
    const head = [`    <meta name="pypi:repository-version" content="${this.apiVersion(p)}">`];
    if (p.status !== undefined) head.push(`    <meta name="pypi:project-status" content="${p.status}">`);
    if (p.statusReason !== undefined) head.push(`    <meta name="pypi:project-status-reason" content="${esc(p.statusReason)}">`);
    const links = this.listed(p).map((f) => {
      const attrs = [`href="${esc(`${this.fileHref(f.dist)}#sha256=${f.dist.sha256}`)}"`];
      if (f.requiresPython !== undefined) attrs.push(`data-requires-python="${esc(f.requiresPython)}"`);
      if (f.yanked !== undefined && f.yanked !== false) attrs.push(`data-yanked="${f.yanked === true ? '' : esc(f.yanked)}"`);
      if (hasMetadata(f)) {
        const h = sha256(f.dist.metadata);
        attrs.push(`data-dist-info-metadata="sha256=${h}"`, `data-core-metadata="sha256=${h}"`);
      }
      return `    <a ${attrs.join(' ')}>${esc(f.dist.filename)}</a><br />`;
    });
    return [
      '<!DOCTYPE html>',
      '<html lang="en">',
      '  <head>',
      ...head,
      `    <title>Links for ${esc(p.name)}</title>`,
      '  </head>',
      '  <body>',
      `    <h1>Links for ${esc(p.name)}</h1>`,
      ...links,
      '  </body>',
      '</html>',
      `<!--SERIAL ${p.serial}-->`,
      '',
    ].join('\n');
  }

  /** Writes status + headers + body, applying corrupt / truncateAt / bytesPerSecond. */
  private async send(
    req: IncomingMessage,
    res: ServerResponse,
    entry: LoggedRequest,
    status: number,
    headers: Record<string, string>,
    body: Buffer,
    f: Faults,
    corruptible: boolean,
  ): Promise<void> {
    const socket = req.socket;
    const data = corruptible && f.corrupt === true ? flipBytes(body) : body;
    entry.status = status;
    res.writeHead(status, { ...headers, 'content-length': String(body.length) });
    if (entry.method === 'HEAD') {
      res.end();
      return;
    }
    const truncated = f.truncateAt !== undefined && f.truncateAt < data.length;
    const limit = truncated ? Math.max(0, f.truncateAt!) : data.length;
    const rate = f.bytesPerSecond !== undefined && f.bytesPerSecond > 0 ? f.bytesPerSecond : undefined;
    if (rate === undefined) {
      if (limit > 0) {
        entry.bytesSent += limit;
        await write(res, data.subarray(0, limit));
      }
    } else {
      const chunk = Math.max(1, Math.min(MAX_CHUNK, Math.floor(rate / 10)));
      for (let off = 0; off < limit; ) {
        if (socket.destroyed) return;
        const piece = data.subarray(off, Math.min(off + chunk, limit));
        off += piece.length;
        entry.bytesSent += piece.length;
        await write(res, piece);
        if (off < limit || truncated) await sleep((piece.length / rate) * 1000);
      }
    }
    if (socket.destroyed) return;
    if (truncated) {
      if (limit === 0) res.flushHeaders();
      // Let what was written reach the kernel, then drop the connection mid-body.
      for (let i = 0; i < 200 && socket.writableLength > 0 && !socket.destroyed; i++) await sleep(5);
      await sleep(5);
      socket.destroy();
      return;
    }
    res.end();
  }
}

// --- helpers ---------------------------------------------------------------

/** PEP 503 normalization, written out here on purpose (independent of src/). */
function normalize(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

/** files.pythonhosted.org layout: /packages/<b2[0:2]>/<b2[2:4]>/<b2[4:]>/<filename>. */
function filePath(dist: BuiltDist): string {
  const b2 = dist.blake2b256;
  return `/packages/${b2.slice(0, 2)}/${b2.slice(2, 4)}/${b2.slice(4)}/${encodeURIComponent(dist.filename)}`;
}

/** One byte range of `length` bytes: `a-b`, `a-`, `-n`; null for anything else (the whole body is sent). */
function parseRange(header: string, length: number): { start: number; end: number } | 'unsatisfiable' | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || length === 0) return 'unsatisfiable';
    return { start: Math.max(0, length - n), end: length - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? length - 1 : Math.min(Number(m[2]), length - 1);
  if (m[2] !== '' && Number(m[2]) < start) return null;
  if (start >= length) return 'unsatisfiable';
  return { start, end };
}

function hasMetadata(f: UpstreamFile): boolean {
  return f.withMetadata ?? f.dist.filename.endsWith('.whl');
}

function versionOf(filename: string): string {
  if (filename.endsWith('.whl')) return filename.split('-')[1] ?? '';
  const stem = filename.replace(/\.(tar\.gz|tar\.bz2|tgz|zip)$/, '');
  return stem.slice(stem.lastIndexOf('-') + 1);
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function defined(f: Faults): Faults {
  return Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)) as Faults;
}

/** Same length, different bytes: the first and the middle byte are inverted. */
function flipBytes(b: Buffer): Buffer {
  const c = Buffer.from(b);
  if (c.length === 0) return c;
  c[0] = c[0]! ^ 0xff;
  const mid = Math.floor(c.length / 2);
  if (mid !== 0) c[mid] = c[mid]! ^ 0xff;
  return c;
}

interface AcceptRange {
  type: string;
  subtype: string;
  q: number;
}

function parseAccept(header: string | undefined): AcceptRange[] {
  if (header === undefined || header.trim() === '') return [{ type: '*', subtype: '*', q: 1 }];
  const ranges: AcceptRange[] = [];
  for (const part of header.split(',')) {
    const [media, ...params] = part.split(';').map((s) => s.trim());
    if (!media) continue;
    const [type, subtype] = media.toLowerCase().replace('.latest+', '.v1+').split('/');
    if (!type || !subtype) continue;
    let q = 1;
    for (const p of params) {
      const m = /^q\s*=\s*([0-9.]+)$/i.exec(p);
      if (m) q = Math.min(1, Math.max(0, Number.parseFloat(m[1]!) || 0));
    }
    ranges.push({ type, subtype, q });
  }
  return ranges;
}

/** q of the most specific matching range (RFC 9110 §12.5.1); 0 when none matches. */
function qualityOf(offer: string, ranges: AcceptRange[]): number {
  const [type, subtype] = offer.split('/') as [string, string];
  let best = -1;
  let q = 0;
  for (const r of ranges) {
    const specificity = r.type === type && r.subtype === subtype ? 2 : r.type === type && r.subtype === '*' ? 1 : r.type === '*' && r.subtype === '*' ? 0 : -1;
    if (specificity > best) {
      best = specificity;
      q = r.q;
    }
  }
  return best === -1 ? 0 : q;
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((t) => {
    const v = t.trim();
    return v === '*' || v.replace(/^W\//, '') === etag;
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves once the chunk is handed to the socket, or the response is gone. */
function write(res: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('close', done);
      resolve();
    };
    res.once('close', done);
    res.write(chunk, done);
  });
}

async function listenHost(h: Host): Promise<void> {
  if (h.listening) return;
  await new Promise<void>((resolve, reject) => {
    h.server.once('error', reject);
    h.server.listen(h.port, '127.0.0.1', () => {
      h.server.off('error', reject);
      resolve();
    });
  });
  h.port = (h.server.address() as AddressInfo).port;
  h.listening = true;
}

async function closeHost(h: Host): Promise<void> {
  if (!h.listening) return;
  h.listening = false;
  await new Promise<void>((resolve) => {
    h.server.close(() => resolve());
    h.server.closeAllConnections();
  });
}
