/**
 * The "bare node:http" baselines, in their own process like pydepot:
 *   node --import tsx bench/baseline-server.ts [--file F] [--upload-to F] [--pages P.json]
 * GET with --pages: the page for the request's Accept (JSON if it asks for
 *   the PEP 691 JSON type, else HTML) from memory, with pydepot's headers;
 *   its gzip variant (`json-gzip`, `html-gzip`) when Accept-Encoding names gzip.
 * GET with --file: F streamed from disk with fs.createReadStream.
 * POST: the request body piped to F with fs.createWriteStream, then 200.
 * Prints {"url": ...} on stdout once listening.
 */
import { createReadStream, createWriteStream, readFileSync, statSync } from 'node:fs';
import { createServer, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { closeServer, stopWithParent } from './child-lifetime.ts';

export interface BaselinePage {
  headers: OutgoingHttpHeaders;
  bodyBase64: string;
}

const { values: args } = parseArgs({
  options: { file: { type: 'string' }, 'upload-to': { type: 'string' }, pages: { type: 'string' } },
});
const pages = args.pages
  ? Object.fromEntries(
      Object.entries(JSON.parse(readFileSync(args.pages, 'utf8')) as Record<string, BaselinePage>)
        .map(([format, p]) => [format, { headers: p.headers, body: Buffer.from(p.bodyBase64, 'base64') }]),
    )
  : null;

const server = createServer((req, res) => {
  const fail = (err: unknown): void => {
    if (!res.headersSent) res.writeHead(500).end(String(err));
    else res.destroy();
  };
  if (req.method === 'POST' && args['upload-to']) {
    pipeline(req, createWriteStream(args['upload-to'])).then(() => res.writeHead(200).end(), fail);
  } else if (req.method === 'GET' && pages) {
    const format = /application\/vnd\.pypi\.simple\.v1\+json/.test(req.headers.accept ?? '') ? 'json' : 'html';
    const gzip = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '') && pages[`${format}-gzip`];
    const page = gzip || pages[format];
    if (!page) return void res.writeHead(404).end();
    res.writeHead(200, page.headers).end(page.body);
  } else if (req.method === 'GET' && args.file) {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': statSync(args.file).size });
    pipeline(createReadStream(args.file), res).catch(fail);
  } else {
    res.writeHead(404).end();
  }
});
server.requestTimeout = 0;
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});

stopWithParent(closeServer(server));
