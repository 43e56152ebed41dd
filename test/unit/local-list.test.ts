/** A local repository's project list comes in keyset pages of names: memory stays flat however many projects it holds. */
import { createHash } from 'node:crypto';
import test from 'ava';
import type { LocalRepoConfig } from '../../src/config/schema.ts';
import { LocalRepository } from '../../src/repos/local.ts';
import { openStorage } from '../../src/storage/open.ts';
import { tempDir } from '../helpers/server.ts';

test('listProjects yields every project with files, in name order, 5,000 names at a time', async (t) => {
  const storage = await openStorage(`${await tempDir(t)}/storage`);
  t.teardown(() => storage.store.close());
  const names: string[] = [];
  for (let i = 0; i < 5003; i++) {
    const project = `p-${String(i).padStart(5, '0')}`;
    names.push(project);
    const filename = `${project.replace('-', '_')}-1.0-py3-none-any.whl`;
    const sha256 = createHash('sha256').update(filename).digest('hex');
    await storage.store.addFile({
      repo: 'internal', project, displayName: project.toUpperCase(), filename, version: '1.0', kind: 'wheel', size: 1, requiresPython: null,
      metadataSha256: null, uploadTime: '2025-01-01T00:00:00.000Z', uploader: null, sha256, md5: sha256.slice(0, 32), blake2b256: sha256,
      coreMetadata: null, metadataJson: '{}',
    }, { overwrite: false, actor: { user: null, tokenId: null, address: null } });
  }
  const repo = new LocalRepository('internal', { indexMaxAge: 600, maxFileSize: 1e9 } as LocalRepoConfig, storage.blobs, storage.store, storage.audit);
  const batches: { name: string; displayName: string }[][] = [];
  for await (const batch of repo.listProjects()) batches.push(batch);
  t.deepEqual(batches.map((b) => b.length), [5000, 3]);
  t.deepEqual(batches.flat().map((p) => p.name), names);
  t.is(batches[0]![0]!.displayName, 'P-00000');
});
