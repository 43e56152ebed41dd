/**
 * Writes a valid, arbitrarily large wheel to disk without holding it in
 * memory: benchpkg/data.bin is a STORED (uncompressed, so no zip-bomb ratio)
 * AES-CTR keystream streamed through yazl, and RECORD is added once that
 * stream has been hashed.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import { nativeCrc32ForYazl } from '../src/wheelhouse/export.ts';

// The same CRC-32 values as yazl's own, from zlib: building a GB-sized wheel no longer waits on a JavaScript loop.
nativeCrc32ForYazl();

export interface BigWheel {
  path: string;
  filename: string;
  name: string;
  version: string;
  size: number;
  sha256: string;
}

const CHUNK = 1024 * 1024;

/** `size` pseudo-random bytes, 1 MiB at a time (AES-CTR runs at several GB/s). */
function randomStream(size: number): Readable {
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const zeros = Buffer.alloc(CHUNK);
  let left = size;
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(CHUNK, left);
      left -= n;
      this.push(cipher.update(n === CHUNK ? zeros : zeros.subarray(0, n)));
    },
  });
}

const b64hash = (data: Buffer | string): string => createHash('sha256').update(data).digest('base64url');

export async function makeBigWheel(dir: string, dataBytes: number): Promise<BigWheel> {
  const filename = 'benchpkg-1.0-py3-none-any.whl';
  const path = join(dir, filename);
  return { path, ...(await writeBigWheel(createWriteStream(path), dataBytes)) };
}

/** The same wheel, of project `name` (a lowercase Python identifier), written to `out` (which it ends). */
export async function writeBigWheel(out: Writable, dataBytes: number, name = 'benchpkg', version = '1.0'): Promise<Omit<BigWheel, 'path'>> {
  const filename = `${name}-${version}-py3-none-any.whl`;
  const distInfo = `${name}-${version}.dist-info`;
  const opts = { mtime: new Date(2020, 0, 1), mode: 0o100644, forceDosTimestamp: true };

  const small: Array<[string, Buffer]> = [
    [`${name}/__init__.py`, Buffer.from(`__version__ = "${version}"\n`)],
    [`${distInfo}/METADATA`, Buffer.from(`Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\nSummary: pydepot benchmark wheel\n`)],
    [`${distInfo}/WHEEL`, Buffer.from('Wheel-Version: 1.0\nGenerator: pydepot-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n')],
  ];
  const record = small.map(([p, d]) => `${p},sha256=${b64hash(d)},${d.length}`);

  const zip = new yazl.ZipFile();
  for (const [p, d] of small) zip.addBuffer(d, p, { ...opts, compress: true });

  // data.bin: hash it on the way into the zip, then add RECORD and close the zip.
  const dataHash = createHash('sha256');
  const data = randomStream(dataBytes).pipe(new Transform({
    highWaterMark: CHUNK,
    transform(chunk: Buffer, _enc, cb) { dataHash.update(chunk); cb(null, chunk); },
  }));
  zip.addReadStream(data, `${name}/data.bin`, { ...opts, compress: false, size: dataBytes });
  data.once('end', () => {
    record.push(`${name}/data.bin,sha256=${dataHash.digest('base64url')},${dataBytes}`, `${distInfo}/RECORD,,`);
    zip.addBuffer(Buffer.from(`${record.join('\n')}\n`), `${distInfo}/RECORD`, { ...opts, compress: true });
    zip.end();
  });

  const fileHash = createHash('sha256');
  let size = 0;
  await pipeline(
    zip.outputStream,
    new Transform({
      highWaterMark: CHUNK,
      transform(chunk: Buffer, _enc, cb) { fileHash.update(chunk); size += chunk.length; cb(null, chunk); },
    }),
    out,
  );
  return { filename, name, version, size, sha256: fileHash.digest('hex') };
}
