/**
 * POST /<repo>/-/wheelhouse: the export over HTTP, with read permission;
 * 422 with every target's reasons before any zip byte; a zip whose files are
 * the ones the CLI's export chooses.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { startTestServer, tempDir, CI } from '../helpers/server.ts';
import { ARM, buildWheelhouseGraph, CHOSEN, readZip, uploadGraph, X86 } from '../helpers/wheelhouse.ts';

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json', ...headers } });

test('POST /<repo>/-/wheelhouse answers the zip for two targets: every chosen file, verified, with its requirements', async (t) => {
  const s = await startTestServer(t);
  await uploadGraph(s.url, await buildWheelhouseGraph());
  const res = await post(`${s.url}/internal/-/wheelhouse`, { requirements: 'acme-app\n', targets: [X86, ARM] });
  t.is(res.status, 200, res.statusText);
  t.is(res.headers.get('content-type'), 'application/zip');
  t.regex(res.headers.get('content-disposition') ?? '', /attachment; filename="wheelhouse\.zip"/);
  const path = join(await tempDir(t), 'wheelhouse.zip');
  await writeFile(path, Buffer.from(await res.arrayBuffer()));
  const entries = await readZip(path);
  const wheels = entries.filter((e) => e.name.startsWith('wheelhouse/')).map((e) => e.name.slice('wheelhouse/'.length)).sort();
  t.deepEqual(wheels, [...new Set([...CHOSEN[X86]!, ...CHOSEN[ARM]!])].sort());
  t.true(entries.some((e) => e.name === 'requirements.txt' && /acme-app==1\.0 .*--hash=sha256:/s.test(e.data.toString())));
});

test('an unresolvable request answers 422 with the reasons as JSON; bad requests answer 400; reading needs the read right', async (t) => {
  const s = await startTestServer(t, { repositories: { internal: { type: 'local', upload: [CI.user], read: 'authenticated' } } });
  const url = `${s.url}/internal/-/wheelhouse`;
  const auth = { Authorization: CI.basic };
  const none = await post(url, { requirements: 'nothing-here\n', targets: [X86] }, auth);
  t.is(none.status, 422);
  const body = await none.json() as { message: string; failures: { target: string; reasons: string[] }[] };
  t.regex(body.message, /Cannot resolve for cp311-manylinux_2_17_x86_64: nothing-here .*no such project/);
  t.is(body.failures[0]!.target, X86);
  t.is((await post(url, { requirements: '-e ./lib\n', targets: [X86] }, auth)).status, 400);
  const badTarget = await post(url, { requirements: 'x\n', targets: ['cp311-amiga'] }, auth);
  t.is(badTarget.status, 400);
  t.is((await post(url, { requirements: 'x\n' }, auth)).status, 400);
  t.is((await post(url, { requirements: 'x\n', targets: [X86] })).status, 401, 'the repository is not public');
});
