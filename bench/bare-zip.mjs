/**
 * The baseline of the wheelhouse export's throughput: the same blobs copied
 * into a zip by the least a script can do.
 *   node bench/bare-zip.mjs OUT.zip ENTRIES.json    (ENTRIES: [[file, entry name], ...])
 * yazl, every entry STORED; nothing verified, no documents; the output is
 * fsync'd before it is closed, as the export's is (`flush: true`), so both
 * sides pay for the same durability. Plain JavaScript: no TypeScript loader
 * at start-up.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';

const [out, list] = process.argv.slice(2);
if (!out || !list) {
  console.error('usage: bare-zip.mjs OUT.zip ENTRIES.json');
  process.exit(2);
}
const zip = new yazl.ZipFile();
for (const [file, name] of JSON.parse(readFileSync(list, 'utf8'))) zip.addFile(file, name, { compress: false });
zip.end();
await pipeline(zip.outputStream, createWriteStream(out, { flush: true }));
