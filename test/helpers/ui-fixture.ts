/**
 * One depot for the web UI's tests (HTTP and browser): repositories of each
 * kind, a private one, releases with pre-releases and a yank, an upstream
 * project, and a package whose metadata carries script injections.
 * Built once per test file (`sharedUiDepot`), torn down after its tests.
 */
import type { ExecutionContext } from 'ava';
import { openTestStorage } from './test-backend.ts';
import { addUser, basic } from './accounts.ts';
import { buildSdist, buildWheel, type BuiltDist } from './dists.ts';
import { FakeUpstream } from './fake-upstream.ts';
import { CI, startTestServer, type TestServer } from './server.ts';
import { upload } from './upload.ts';

export const ALICE = { user: 'alice', password: 'alice-password' };
export const BOB = { user: 'bob', password: 'bob-password' };

/** What the XSS package's metadata tries: each must arrive inert. */
export const XSS_SUMMARY = '<script>alert("summary")</script><img src=x onerror=alert("summary-img")>';
export const XSS_DESCRIPTION = [
  '# Evil package',
  '',
  '<script>alert("description")</script>',
  '',
  '<img src="x" onerror="alert(\'img\')">',
  '',
  '[click me](javascript:alert("link"))',
  '',
  '![picture](javascript:alert("image"))',
  '',
  '<a href="javascript:alert(\'raw\')">raw link</a>',
  '',
  '[docs](https://docs.example.invalid/evil)',
  '',
  '```python',
  'print("<b>not bold</b>")',
  '```',
  '',
].join('\n');

export interface UiDepot {
  s: TestServer;
  up: FakeUpstream;
  dists: Record<string, BuiltDist>;
}

async function put(s: TestServer, repo: string, dist: BuiltDist, name: string, version: string): Promise<void> {
  const res = await upload(`${s.url}/${repo}/`, dist, name, version);
  if (res.status !== 200) throw new Error(`upload of ${dist.filename} to ${repo}: ${res.status} ${await res.text()}`);
}

export async function startUiDepot(t: ExecutionContext, config: Record<string, unknown> = {}): Promise<UiDepot> {
  const up = await FakeUpstream.start(t);
  const requests = await buildWheel({ name: 'requests', version: '2.31.0', summary: 'Python HTTP for Humans.', requiresDist: ['urllib3>=1.21'] });
  up.addProject('requests', [{ dist: requests, requiresPython: '>=3.7' }]);
  const s = await startTestServer(t, {
    defaultRepository: 'all',
    repositories: {
      internal: { type: 'local', upload: [CI.user] },
      private: { type: 'local', read: [CI.user, ALICE.user], upload: [CI.user] },
      pypi: { type: 'remote', url: up.url, timeout: 2 },
      all: { type: 'virtual', members: ['internal', 'pypi'] },
    },
    ...config,
  });
  await addUser(s.storage, ALICE.user, ALICE.password);
  await addUser(s.storage, BOB.user, BOB.password);
  const dists: Record<string, BuiltDist> = { requests };
  const acme = async (version: string, extra: Parameters<typeof buildWheel>[0] = { name: 'Acme.Utils', version }) => {
    const d = await buildWheel({ ...extra, name: 'Acme.Utils', version });
    dists[d.filename] = d;
    await put(s, 'internal', d, 'Acme.Utils', version);
  };
  await acme('1.0');
  await acme('1.9', { name: 'Acme.Utils', version: '1.9', summary: 'Acme utilities', requiresPython: '>=3.9', requiresDist: ['requests>=2', 'click; extra == "cli"'], providesExtra: ['cli'] });
  const sdist = await buildSdist({ name: 'Acme.Utils', version: '1.9', summary: 'Acme utilities' });
  dists[sdist.filename] = sdist;
  await put(s, 'internal', sdist, 'Acme.Utils', '1.9');
  await acme('1.10');
  await acme('2.0rc1');
  const evil = await buildWheel({ name: 'evil-pkg', version: '1.0', summary: XSS_SUMMARY, description: XSS_DESCRIPTION });
  dists[evil.filename] = evil;
  await put(s, 'internal', evil, 'evil-pkg', '1.0');
  const secret = await buildWheel({ name: 'secret-pkg', version: '0.1', summary: 'Only for the team' });
  dists[secret.filename] = secret;
  await put(s, 'private', secret, 'secret-pkg', '0.1');
  // 1.10 is newer than 1.9 but yanked: the page shows 1.9 by default.
  const st = await openTestStorage(s.storage);
  try {
    await st.store.setYanked('internal', 'acme-utils', '1.10', true, 'broken <b>build</b>');
  } finally {
    await st.store.close();
  }
  return { s, up, dists };
}

/**
 * A depot shared by the tests of one file: made by the first test that asks,
 * stopped after the last (`test.after.always(depot.stop)`).
 */
export function sharedUiDepot(config: Record<string, unknown> = {}): { get(): Promise<UiDepot>; stop(): Promise<void> } {
  const teardowns: (() => unknown)[] = [];
  const owner = { teardown: (fn: () => unknown) => void teardowns.push(fn) } as unknown as ExecutionContext;
  let depot: Promise<UiDepot> | null = null;
  return {
    get: () => (depot ??= startUiDepot(owner, config)),
    async stop() {
      for (const fn of teardowns.reverse()) await fn();
    },
  };
}

export { basic, CI };
