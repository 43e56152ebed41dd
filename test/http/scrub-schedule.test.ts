/** scrub.interval: the server scrubs on its own, counts what it finds, and the corrupt cached file is fetched again. */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { buildWheel } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { startTestServer } from '../helpers/server.ts';
import { eventually } from '../helpers/storage.ts';

test('a scheduled scrub quarantines a corrupt cached file; the next GET fetches it again', async (t) => {
  const up = await FakeUpstream.start(t);
  const wheel = await buildWheel({ name: 'requests', version: '2.32.0', padBytes: 20_000 });
  up.addProject('requests', [{ dist: wheel }]);
  const s = await startTestServer(t, {
    repositories: { pypi: { type: 'remote', url: up.url, timeout: 5 } },
    scrub: { interval: 0.2, rate: '10MiB' },
    // Blobs in the folder whatever the test back end: the test corrupts one on disk (the database follows PYDEPOT_TEST_BACKEND).
    blobs: { type: 'fs' },
  });
  const url = `${s.url}/pypi/files/${wheel.sha256}/${wheel.filename}`;
  const get = async (): Promise<string> => createHash('sha256').update(Buffer.from(await (await fetch(url)).arrayBuffer())).digest('hex');
  t.is((await fetch(`${s.url}/pypi/simple/requests/`)).status, 200);
  t.is(await get(), wheel.sha256);

  const path = join(s.storage, 'blobs', 'sha256', wheel.sha256.slice(0, 2), wheel.sha256.slice(2, 4), wheel.sha256);
  const bytes = await readFile(path);
  bytes[100]! ^= 0xff;
  await writeFile(path, bytes);
  const metrics = async (): Promise<string> => (await fetch(`${s.url}/-/metrics`)).text();
  await eventually(async () => /^pydepot_scrub_corrupt_blobs_total 1$/m.test(await metrics()), 'the scheduled scrub finding it');
  t.true(s.logs.some((l) => l.msg === 'corrupt blob quarantined; a remote fetches it again on the next request' && l.sha256 === wheel.sha256));
  t.is(await get(), wheel.sha256);
  t.is(up.count((r) => r.path.endsWith(`/${wheel.filename}`)), 2);
  t.regex(await metrics(), /^pydepot_scrub_blobs_total [1-9]/m);
});
