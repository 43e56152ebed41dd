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

test('a pylock.toml in place of requirements: the lock\'s files for each target; bad TOML answers 400, a hash the repository contradicts 422', async (t) => {
  const s = await startTestServer(t);
  const dists = await buildWheelhouseGraph();
  await uploadGraph(s.url, dists);
  const url = `${s.url}/internal/-/wheelhouse`;
  // The lock of a first wheelhouse, sent back.
  const first = await post(url, { requirements: 'acme-app\n', targets: [X86, ARM] });
  t.is(first.status, 200, first.statusText);
  const dir = await tempDir(t);
  await writeFile(join(dir, 'first.zip'), Buffer.from(await first.arrayBuffer()));
  const a = await readZip(join(dir, 'first.zip'));
  const lock = a.find((e) => e.name === 'pylock.toml')!.data.toString('utf8');

  const res = await post(url, { pylock: lock, targets: [X86, ARM] });
  t.is(res.status, 200, res.statusText);
  await writeFile(join(dir, 'second.zip'), Buffer.from(await res.arrayBuffer()));
  const b = await readZip(join(dir, 'second.zip'));
  const files = (entries: typeof a): string[] => entries.filter((e) => e.name.startsWith('wheelhouse/')).map((e) => `${e.name} ${e.sha256}`);
  t.deepEqual(files(b), files(a));

  const bad = await post(url, { pylock: "lock-version = '1.0'\ncreated-by = = 'x'\n", targets: [X86] });
  t.is(bad.status, 400);
  t.regex(bad.statusText, /^pylock\.toml:2:\d+: not valid TOML \(.+\)$/);
  const unsupported = await post(url, { pylock: "lock-version = '2.0'\ncreated-by = 'x'\npackages = []\n", targets: [X86] });
  t.is(unsupported.status, 400);
  t.is(unsupported.statusText, 'pylock.toml: lock-version 2.0 is not supported (pydepot reads PEP 751 lock-version 1.x)');
  t.is((await post(url, { pylock: lock, requirements: 'acme-app\n', targets: [X86] })).status, 400, 'one or the other');
  t.is((await post(url, { pylock: lock, pre: true, targets: [X86] })).status, 400);

  const pure = dists.get('acme_pure-1.1-py3-none-any.whl')!.sha256;
  const tampered = await post(url, { pylock: lock.replace(pure, '0'.repeat(64)), targets: [X86] });
  t.is(tampered.status, 422);
  const body = await tampered.json() as { message: string; failures: { target: string; reasons: string[] }[] };
  t.regex(body.failures[0]!.reasons[0]!, new RegExp(`^acme-pure 1\\.1 \\(pylock\\.toml packages\\[5\\]\\.wheels\\[0\\]\\): refused: acme_pure-1\\.1-py3-none-any\\.whl in 'internal' has sha256 ${pure}, but the lock says 0{64}`));
  const uncovered = await post(url, { pylock: lock, targets: ['cp311-win_amd64'] });
  t.is(uncovered.status, 422);
  t.regex((await uncovered.json() as { message: string }).message, /^Cannot resolve for cp311-win_amd64: pylock\.toml does not cover cp311-win_amd64/);
});
