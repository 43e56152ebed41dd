/**
 * Cache warming: every file a plan chose (the union over its targets, each
 * once) and its core metadata, read whole through the repository. On a
 * remote repository that is the one path that fetches, verifies and caches
 * (concurrent readers join the one download); on a local one the bytes are
 * already there and are only read. A file that cannot be read, or whose
 * bytes do not verify, is a failure of its own: the others go on.
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { IndexFile } from '../pypi/pages.ts';
import type { FileHandle, Repository } from '../repos/types.ts';
import type { Plan } from './plan.ts';
import type { ExportProgress } from './export.ts';

export type PrefetchProgress = ExportProgress;

export interface PrefetchOptions {
  onProgress?: (p: PrefetchProgress) => void;
  /** Files read at once (default 4). */
  concurrency?: number;
}

export interface PrefetchFailure {
  filename: string;
  sha256: string;
  reason: string;
}

export interface PrefetchTargetSummary {
  name: string;
  pins: number;
  files: number;
  bytes: number;
  /** This target's files that failed, one line each. */
  failures: string[];
}

export interface PrefetchResult {
  /** Distinct files warmed (read whole and verified), and their bytes. */
  files: number;
  bytes: number;
  /** Core metadata files read. */
  metadata: number;
  failures: PrefetchFailure[];
  targets: PrefetchTargetSummary[];
}

/** The union of every target's files, each once by sha256 and filename, sorted by filename. */
export function plannedFiles(plan: Plan): IndexFile[] {
  const byKey = new Map<string, IndexFile>();
  for (const { pins } of plan.targets) {
    for (const pin of pins) byKey.set(`${pin.file.sha256}/${pin.file.filename}`, pin.file);
  }
  return [...byKey.values()].sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0));
}

/** Reads a handle to its end, counting bytes as they come. */
async function drain(handle: FileHandle, onBytes: (n: number) => void): Promise<number> {
  let total = 0;
  await pipeline(handle.open(), new Writable({
    write(chunk: Buffer, _enc, cb) {
      total += chunk.length;
      onBytes(chunk.length);
      cb();
    },
  }));
  return total;
}

export async function prefetchWheelhouse(plan: Plan, repo: Repository, opts: PrefetchOptions = {}): Promise<PrefetchResult> {
  const files = plannedFiles(plan);
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const bytesTotal = files.reduce((n, f) => n + f.size, 0);
  const progress = { filesDone: 0, bytesDone: 0 };
  const emit = (event: ExportProgress['event'], filename: string | null): void =>
    opts.onProgress?.({ event, filename, filesDone: progress.filesDone, filesTotal: files.length, bytesDone: progress.bytesDone, bytesTotal });

  const failures = new Map<string, PrefetchFailure>();
  let warmedFiles = 0;
  let warmedBytes = 0;
  let metadata = 0;

  const warm = async (file: IndexFile): Promise<void> => {
    let counted = 0;
    try {
      const handle = await repo.openFile(file.sha256, file.filename);
      if (!handle) throw new Error('listed but not found in the repository');
      const read = await drain(handle, (n) => {
        counted += n;
        progress.bytesDone += n;
        emit('bytes', file.filename);
      });
      if (read !== file.size) throw new Error(`read ${read} bytes, the index says ${file.size}`);
      if (file.metadataSha256) {
        const meta = await repo.openCoreMetadata(file.sha256, file.filename);
        if (meta) {
          await drain(meta, () => undefined);
          metadata += 1;
        }
      }
      warmedFiles += 1;
      warmedBytes += read;
    } catch (err) {
      // The bar counts the file's whole size once, whatever was read of it.
      progress.bytesDone += file.size - counted;
      failures.set(file.filename, { filename: file.filename, sha256: file.sha256, reason: (err as Error).message });
    }
    progress.filesDone += 1;
    emit('file', file.filename);
  };

  emit('start', null);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) await warm(files[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));

  const targets = plan.targets.map(({ target, pins }) => ({
    name: target.name,
    pins: pins.length,
    files: pins.length,
    bytes: pins.reduce((n, p) => n + p.file.size, 0),
    failures: pins.flatMap((p) => {
      const f = failures.get(p.file.filename);
      return f ? [`${f.filename}: ${f.reason}`] : [];
    }),
  }));
  return { files: warmedFiles, bytes: warmedBytes, metadata, failures: [...failures.values()], targets };
}
