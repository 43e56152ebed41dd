/**
 * The baseline of the wheelhouse export's throughput: the same blobs copied
 * into a zip by the least a script can do.
 *   node bench/bare-zip.mjs [--zlib-crc] OUT.zip ENTRIES.json    (ENTRIES: [[file, entry name], ...])
 * yazl, every entry STORED; nothing verified, no documents; the output is
 * fsync'd before it is closed, as the export's is (`flush: true`), so both
 * sides pay for the same durability. Plain JavaScript: no TypeScript loader
 * at start-up. --zlib-crc: yazl's CRC-32 from zlib, as the export has it
 * (src/wheelhouse/export.ts), so that the two differ only in what the
 * export adds (verification, documents, resolution, start-up).
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import yazl from 'yazl';

const args = process.argv.slice(2);
const zlibCrc = args[0] === '--zlib-crc';
const [out, list] = zlibCrc ? args.slice(1) : args;
if (!out || !list) {
  console.error('usage: bare-zip.mjs [--zlib-crc] OUT.zip ENTRIES.json');
  process.exit(2);
}
if (zlibCrc) {
  const fromYazl = createRequire(createRequire(import.meta.url).resolve('yazl'));
  fromYazl('buffer-crc32').unsigned = (buf, previous) => crc32(buf, previous ?? 0);
}
const zip = new yazl.ZipFile();
for (const [file, name] of JSON.parse(readFileSync(list, 'utf8'))) zip.addFile(file, name, { compress: false });
zip.end();
await pipeline(zip.outputStream, createWriteStream(out, { flush: true }));
