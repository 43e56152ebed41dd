/** FileHandles over the two places bytes live: the blob store and memory. */
import { Readable } from 'node:stream';
import type { BlobStore } from '../storage/types.ts';
import type { FileHandle } from './types.ts';

export function blobFileHandle(blobs: BlobStore, filename: string, sha256: string, size: number, lastModified: Date): FileHandle {
  return {
    filename, sha256, size, lastModified,
    // A whole file for a client: a herd of them shares the store's read of it.
    open: (range) => (range ? blobs.open(sha256, range) : blobs.openShared(sha256, size)),
    offload: () => Promise.resolve(blobs.offloadKey(sha256)),
  };
}

export function bufferFileHandle(filename: string, sha256: string, bytes: Buffer, lastModified: Date): FileHandle {
  return {
    filename,
    sha256,
    size: bytes.length,
    lastModified,
    open: (range) => Readable.from([range ? bytes.subarray(range.start, range.end + 1) : bytes]),
  };
}
