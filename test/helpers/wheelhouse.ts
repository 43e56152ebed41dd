/**
 * The wheelhouse tests' project graph, its upload, and a zip reader that
 * shows what a wheelhouse zip holds byte for byte (entry order, method, DOS
 * time fields).
 *
 * Two Linux targets, x86_64 and aarch64, both CPython 3.11 on glibc 2.17:
 *   acme-app 1.0 (pure) → acme-native, acme-fast, acme-armext ; platform_machine == "aarch64"
 *   acme-native 1.0: one wheel per arch → acme-pure>=1.0
 *   acme-pure 1.0, 1.1 (pure): 1.1 for both
 *   acme-fast 1.0 (both arches), 2.0 (x86_64 only), 3.0 (manylinux_2_28_x86_64 only):
 *     2.0 on x86_64/2.17, 1.0 on aarch64, 3.0 on a glibc 2.28 x86_64
 *   acme-armext 1.0 (pure): only aarch64 nodes need it
 *   acme-sdistonly 1.0: an sdist, no wheel
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import yauzl from 'yauzl';
import { buildSdist, buildWheel, type BuiltDist, type DistSpec } from './dists.ts';
import { upload } from './upload.ts';

export const X86 = 'cp311-manylinux_2_17_x86_64';
export const ARM = 'cp311-manylinux_2_17_aarch64';
export const X86_228 = 'cp311-manylinux_2_28_x86_64';

const native = (arch: string): Partial<DistSpec> => ({ pythonTag: 'cp311', abiTag: 'cp311', platformTag: `manylinux_2_17_${arch}` });

export const WHEELHOUSE_GRAPH: Array<{ spec: DistSpec; sdist?: boolean }> = [
  { spec: { name: 'acme-app', version: '1.0', requiresDist: ['acme-native', 'acme-fast', 'acme-armext ; platform_machine == "aarch64"'] } },
  { spec: { name: 'acme-native', version: '1.0', requiresDist: ['acme-pure>=1.0'], ...native('x86_64') } },
  { spec: { name: 'acme-native', version: '1.0', requiresDist: ['acme-pure>=1.0'], ...native('aarch64') } },
  { spec: { name: 'acme-pure', version: '1.0' } },
  { spec: { name: 'acme-pure', version: '1.1' } },
  { spec: { name: 'acme-fast', version: '1.0', ...native('x86_64') } },
  { spec: { name: 'acme-fast', version: '1.0', ...native('aarch64') } },
  { spec: { name: 'acme-fast', version: '2.0', ...native('x86_64') } },
  { spec: { name: 'acme-fast', version: '3.0', pythonTag: 'cp311', abiTag: 'cp311', platformTag: 'manylinux_2_28_x86_64' } },
  { spec: { name: 'acme-armext', version: '1.0' } },
  { spec: { name: 'acme-sdistonly', version: '1.0' }, sdist: true },
];

/** Every dist of the graph, by filename. */
export async function buildWheelhouseGraph(): Promise<Map<string, BuiltDist & { spec: DistSpec }>> {
  const out = new Map<string, BuiltDist & { spec: DistSpec }>();
  for (const { spec, sdist } of WHEELHOUSE_GRAPH) {
    const d = sdist ? await buildSdist(spec) : await buildWheel(spec);
    out.set(d.filename, { ...d, spec });
  }
  return out;
}

/** Uploads every dist to `<url>/internal/` as the ci user. */
export async function uploadGraph(url: string, dists: Map<string, BuiltDist & { spec: DistSpec }>): Promise<void> {
  for (const d of dists.values()) {
    const res = await upload(`${url}/internal/`, d, d.spec.name, d.spec.version);
    if (res.status !== 200) throw new Error(`upload of ${d.filename}: ${res.status} ${await res.text()}`);
  }
}

/** What x86_64 and aarch64 (glibc 2.17) nodes install, as filenames. */
export const CHOSEN: Record<string, string[]> = {
  [X86]: [
    'acme_app-1.0-py3-none-any.whl',
    'acme_fast-2.0-cp311-cp311-manylinux_2_17_x86_64.whl',
    'acme_native-1.0-cp311-cp311-manylinux_2_17_x86_64.whl',
    'acme_pure-1.1-py3-none-any.whl',
  ],
  [ARM]: [
    'acme_app-1.0-py3-none-any.whl',
    'acme_armext-1.0-py3-none-any.whl',
    'acme_fast-1.0-cp311-cp311-manylinux_2_17_aarch64.whl',
    'acme_native-1.0-cp311-cp311-manylinux_2_17_aarch64.whl',
    'acme_pure-1.1-py3-none-any.whl',
  ],
};

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  dosDate: number;
  dosTime: number;
  data: Buffer;
  sha256: string;
  /** The CRC-32 the zip records for the entry. */
  crc32: number;
}

/** Every entry of a zip, in central-directory order, with its contents. */
export async function readZip(path: string): Promise<ZipEntry[]> {
  const buffer = await readFile(path);
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buffer, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const entries: ZipEntry[] = [];
      zip.on('error', reject);
      zip.on('end', () => resolve(entries));
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, stream) => {
          if (e) return reject(e);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', reject);
          stream.on('end', () => {
            const data = Buffer.concat(chunks);
            entries.push({
              name: entry.fileName,
              method: entry.compressionMethod,
              dosDate: entry.lastModFileDate,
              dosTime: entry.lastModFileTime,
              data,
              sha256: createHash('sha256').update(data).digest('hex'),
              crc32: entry.crc32,
            });
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}
