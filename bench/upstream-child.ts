/**
 * A PEP 691 upstream index for pydepot's remote repositories, in its own process:
 *   node --import tsx bench/upstream-child.ts --manifest M.json --mbps 100
 * GET /simple/<project>/  the project's files as PEP 691 JSON (api-version 1.1),
 *                         each linked to /files/<project>/<filename> on this server;
 *                         with an ETag, and 304 to a matching If-None-Match
 * GET /files/<project>/<filename>  the file from disk, with Content-Length, if the
 *                         manifest gives a path (else 404), each response paced
 *                         to --mbps MB/s (10^6 bytes)
 *                         A single `Range` (`a-b`, `a-`, `-n`) is answered 206 with
 *                         that slice, unpaced (a metadata read is a few requests of
 *                         tens of KiB; pacing them would time latency, not bytes)
 * GET /files/<project>/<filename>.metadata  its PEP 658 metadata from disk, if the
 *                         manifest gives a metadataPath (unpaced)
 * GET /simple/            with --root-names N: a root list of N synthetic names
 *                         (bench-root-0000001...), PEP 691 JSON or PEP 503 HTML as
 *                         the Accept header prefers, built at the first request
 * Prints {"url": ...} once listening, then one JSON line per event, which the
 * benchmark counts: {"event":"page"|"file-start"|"file-end"|"file-range", ...}.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { closeServer, stopWithParent } from './child-lifetime.ts';

export interface UpstreamEntry {
  filename: string;
  version: string;
  sha256: string;
  size: number;
  requiresPython: string | null;
  uploadTime: string | null;
  coreMetadataSha256: string | null;
  /** Served when set; otherwise only listed (a page benchmark never downloads it). */
  path?: string;
  /** The core metadata (`coreMetadataSha256` is its hash), served as `<file>.metadata` when set. */
  metadataPath?: string;
}

export interface UpstreamManifest {
  projects: Record<string, UpstreamEntry[]>;
}

export type UpstreamEvent =
  | { event: 'page'; project: string; notModified?: boolean }
  | { event: 'file-start'; filename: string }
  | { event: 'file-end'; filename: string; bytes: number; complete: boolean; seconds: number }
  | { event: 'file-range'; filename: string; bytes: number };

const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';
const CHUNK = 256 * 1024;

const { values: args } = parseArgs({ options: { manifest: { type: 'string' }, mbps: { type: 'string', default: '100' }, 'root-names': { type: 'string', default: '0' } } });
if (!args.manifest) {
  console.error('usage: upstream-child.ts --manifest M.json [--mbps 100]');
  process.exit(2);
}
const manifest = JSON.parse(readFileSync(args.manifest, 'utf8')) as UpstreamManifest;
const bytesPerMs = (Number(args.mbps) * 1e6) / 1000;

const emit = (e: UpstreamEvent): void => { process.stdout.write(`${JSON.stringify(e)}\n`); };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function renderPage(base: string, project: string, entries: UpstreamEntry[]): Buffer {
  const versions = [...new Set(entries.map((e) => e.version))];
  return Buffer.from(JSON.stringify({
    meta: { 'api-version': '1.1' },
    name: project,
    versions,
    files: entries.map((e) => ({
      filename: e.filename,
      url: `${base}/files/${project}/${encodeURIComponent(e.filename)}`,
      hashes: { sha256: e.sha256 },
      size: e.size,
      'requires-python': e.requiresPython,
      'upload-time': e.uploadTime,
      yanked: false,
      'core-metadata': e.coreMetadataSha256 ? { sha256: e.coreMetadataSha256 } : false,
    })),
  }));
}

/** Writes the file at no more than the cap, honouring backpressure. */
async function sendPaced(path: string, size: number, res: ServerResponse): Promise<number> {
  const fd = await open(path, 'r');
  let closed = false;
  res.once('close', () => { closed = true; });
  const t0 = performance.now();
  let sent = 0;
  try {
    while (sent < size && !closed) {
      const due = t0 + sent / bytesPerMs;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - sent));
      const { bytesRead } = await fd.read(buf, 0, buf.length, sent);
      if (bytesRead === 0) throw new Error(`${path} is shorter than ${size} bytes`);
      sent += bytesRead;
      if (!res.write(buf.subarray(0, bytesRead)) && !closed) {
        await new Promise<void>((resolve) => {
          const go = (): void => {
            res.off('drain', go);
            res.off('close', go);
            resolve();
          };
          res.on('drain', go);
          res.on('close', go);
        });
      }
    }
  } finally {
    await fd.close();
  }
  if (!closed) await new Promise<void>((resolve) => res.end(resolve));
  return sent;
}

/** One satisfiable range of a file of `size` bytes, or null (then the whole file is sent). */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  const m = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  const start = m[1] === '' ? Math.max(0, size - Number(m[2])) : Number(m[1]);
  const end = m[1] === '' || m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start <= end ? { start, end } : null;
}

async function sendRange(file: UpstreamEntry, range: { start: number; end: number }, res: ServerResponse): Promise<void> {
  const fd = await open(file.path!, 'r');
  try {
    const buf = Buffer.alloc(range.end - range.start + 1);
    await fd.read(buf, 0, buf.length, range.start);
    res.writeHead(206, {
      'Content-Type': 'application/octet-stream', 'Content-Length': buf.length,
      'Content-Range': `bytes ${range.start}-${range.end}/${file.size}`, 'Accept-Ranges': 'bytes',
    });
    res.end(buf);
    emit({ event: 'file-range', filename: file.filename, bytes: buf.length });
  } finally {
    await fd.close();
  }
}

let pages = new Map<string, { body: Buffer; etag: string }>();
const files = new Map<string, UpstreamEntry>();
const metadata = new Map<string, Buffer>();
for (const [project, entries] of Object.entries(manifest.projects)) {
  for (const e of entries) {
    const path = `/files/${project}/${encodeURIComponent(e.filename)}`;
    if (e.path) files.set(path, e);
    if (e.metadataPath) metadata.set(`${path}.metadata`, readFileSync(e.metadataPath));
  }
}

const rootNames = Number(args['root-names']);
let roots: { json: Buffer; html: Buffer } | null = null;
function rootPages(): { json: Buffer; html: Buffer } {
  if (roots) return roots;
  const names = Array.from({ length: rootNames }, (_, i) => `bench-root-${String(i + 1).padStart(7, '0')}`);
  roots = {
    json: Buffer.from(JSON.stringify({ meta: { 'api-version': '1.1' }, projects: names.map((name) => ({ name })) })),
    html: Buffer.from(`<!DOCTYPE html><html><body>\n${names.map((n) => `<a href="/simple/${n}/">${n}</a><br/>`).join('\n')}\n</body></html>\n`),
  };
  return roots;
}

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0]!;
  if (req.method === 'GET' && path === '/simple/' && rootNames > 0) {
    const json = (req.headers.accept ?? '').includes(JSON_TYPE);
    const body = json ? rootPages().json : rootPages().html;
    emit({ event: 'page', project: '' });
    return void res.writeHead(200, { 'Content-Type': json ? JSON_TYPE : 'text/html', 'Content-Length': body.length }).end(body);
  }
  const page = /^\/simple\/([^/]+)\/$/.exec(path);
  if (req.method === 'GET' && page && pages.has(page[1]!)) {
    const { body, etag } = pages.get(page[1]!)!;
    const notModified = req.headers['if-none-match'] === etag;
    emit({ event: 'page', project: page[1]!, ...(notModified ? { notModified } : {}) });
    if (notModified) return void res.writeHead(304, { ETag: etag }).end();
    return void res.writeHead(200, { 'Content-Type': JSON_TYPE, 'Content-Length': body.length, ETag: etag }).end(body);
  }
  const meta = metadata.get(path);
  if (req.method === 'GET' && meta) {
    return void res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': meta.length }).end(meta);
  }
  const file = files.get(path);
  const range = file?.path ? parseRange(req.headers.range, file.size) : null;
  if (req.method === 'GET' && file?.path && range) {
    void sendRange(file, range, res);
    return;
  }
  if (req.method === 'GET' && file?.path) {
    emit({ event: 'file-start', filename: file.filename });
    const t0 = performance.now();
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': file.size });
    const done = (bytes: number, complete: boolean): void =>
      emit({ event: 'file-end', filename: file.filename, bytes, complete, seconds: (performance.now() - t0) / 1000 });
    sendPaced(file.path, file.size, res).then(
      (bytes) => done(bytes, bytes === file.size),
      (err: Error) => {
        console.error(`upstream-child: ${file.filename}: ${err.message}`);
        res.destroy();
        done(0, false);
      },
    );
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
});
server.requestTimeout = 0;
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  pages = new Map(Object.entries(manifest.projects).map(([p, entries]) => {
    const body = renderPage(base, p, entries);
    return [p, { body, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` }];
  }));
  process.stdout.write(`${JSON.stringify({ url: base })}\n`);
});

stopWithParent(closeServer(server));
