/**
 * Users, tokens and permissions over HTTP, as pip and twine meet them: 401
 * with a Basic challenge when credentials are missing or wrong, 403 when
 * they are valid but not enough, 429 past the failed-login budget, and no
 * trace in storage or in the logs of a refused request.
 */
import test from 'ava';
import { addToken, addUser, auditOf, basic, removeUser, revokeToken, setPassword } from '../helpers/accounts.ts';
import { buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { storageCounts } from '../helpers/storage.ts';
import { upload } from '../helpers/upload.ts';

const CONFIG = {
  defaultRepository: 'all',
  auth: { failedLoginsPerMinute: 5 },
  repositories: {
    internal: { type: 'local', read: ['alice', 'ci'], upload: ['alice', 'ci'] },
    other: { type: 'local', upload: ['alice'] },
    closed: { type: 'local' },
    all: { type: 'virtual', members: ['internal', 'other'], read: 'authenticated', uploadTo: 'internal' },
  },
};

const ALICE_PW = 'alice-password';
const BOB_PW = 'bob-password';

interface Setup {
  s: TestServer;
  wheel: BuiltDist;
  alice: string;
  bob: string;
}

/** alice may read and upload to internal; bob is a user with no rights there. One wheel in internal. */
async function setup(t: Parameters<typeof startTestServer>[0], config: Record<string, unknown> = CONFIG): Promise<Setup> {
  const s = await startTestServer(t, config);
  await addUser(s.storage, 'alice', ALICE_PW);
  await addUser(s.storage, 'bob', BOB_PW);
  const wheel = await buildWheel({ name: 'acme-core', version: '1.0' });
  const res = await upload(`${s.url}/internal/`, wheel, 'acme-core', '1.0');
  t.is(res.status, 200, await res.text());
  return { s, wheel, alice: basic('alice', ALICE_PW), bob: basic('bob', BOB_PW) };
}

async function get(url: string, authorization?: string, headers: Record<string, string> = {}): Promise<{ status: number; statusText: string; headers: Headers; body: string }> {
  const res = await fetch(url, { headers: { ...(authorization ? { Authorization: authorization } : {}), ...headers } });
  return { status: res.status, statusText: res.statusText, headers: res.headers, body: await res.text() };
}

const fileUrl = (base: string, w: BuiltDist) => `${base}/files/${w.sha256}/${w.filename}`;

test('reading a protected repository: 401 with a Basic challenge without credentials or with wrong ones (the same words for an unknown user); 200 with a password or a token', async (t) => {
  const { s, wheel, alice } = await setup(t);
  const page = `${s.url}/internal/simple/acme-core/`;

  const anon = await get(page);
  t.is(anon.status, 401);
  t.regex(anon.headers.get('www-authenticate') ?? '', /^Basic realm="pydepot"/, 'the challenge that makes pip ask keyring or prompt');
  t.regex(anon.statusText, /Repository 'internal' needs credentials to read/);
  t.regex(anon.body, /^401 Repository 'internal' needs credentials/);

  const wrong = await get(page, basic('alice', 'not-it'));
  const unknown = await get(page, basic('mallory', 'not-it'));
  t.is(wrong.status, 401);
  t.regex(wrong.headers.get('www-authenticate') ?? '', /^Basic realm="pydepot"/);
  t.is(wrong.statusText, "Invalid username, password or API token for repository 'internal'.");
  t.is(unknown.status, 401);
  t.is(unknown.statusText, wrong.statusText, 'the reason never tells whether a user exists');

  const ok = await get(page, alice);
  t.is(ok.status, 200);
  t.true(ok.body.includes(wheel.filename));
  t.regex(ok.headers.get('cache-control') ?? '', /private/, 'no shared cache may keep a protected page');
  const file = await fetch(fileUrl(`${s.url}/internal`, wheel), { headers: { Authorization: alice } });
  t.is(file.status, 200);
  t.is(Buffer.from(await file.arrayBuffer()).equals(wheel.bytes), true);
  t.regex(file.headers.get('cache-control') ?? '', /^private, max-age=31536000, immutable$/);
  t.is((await get(fileUrl(`${s.url}/internal`, wheel))).status, 401, 'files are protected like pages');
  t.is((await get(`${s.url}/internal/pypi/acme-core/json`)).status, 401, 'so is the JSON API');

  const token = await addToken(s.storage, 'alice', { scope: 'read' });
  t.is((await get(page, basic('__token__', token.text))).status, 200, 'a token with username __token__ (twine, poetry)');
  t.is((await get(page, basic('alice', token.text))).status, 200, "a token as its owner's password");
  t.is((await get(page, basic('bob', token.text))).status, 401, "not as someone else's password");
  t.is((await get(page, `Bearer ${token.text}`)).status, 200, 'a bearer token (as warehouse accepts)');
  t.is((await get(page, 'Basic')).status, 400, 'an unreadable Authorization header');
});

test('a public repository is read without credentials, but wrong credentials are still refused', async (t) => {
  const { s } = await setup(t);
  t.is((await get(`${s.url}/other/simple/`)).status, 200);
  t.is((await get(`${s.url}/other/simple/`, basic('alice', 'wrong'))).status, 401, 'a typo in the index URL must not pass silently');
  t.is((await get(`${s.url}/other/simple/`, basic('alice', ALICE_PW))).status, 200);
});

test('a user not in the read list gets 403 on the repository, but reads it through a virtual repository that lets them in', async (t) => {
  const { s, wheel, bob } = await setup(t);
  const denied = await get(`${s.url}/internal/simple/acme-core/`, bob);
  t.is(denied.status, 403);
  t.is(denied.statusText, "User 'bob' may not read repository 'internal'.");
  t.is(denied.headers.get('www-authenticate'), null, '403 is final: no challenge');

  // Reading through a virtual repository needs read permission on it only.
  for (const base of [`${s.url}`, `${s.url}/all`]) {
    const page = await get(`${base}/simple/acme-core/`, bob);
    t.is(page.status, 200, base);
    t.true(page.body.includes(wheel.filename));
    const file = await fetch(fileUrl(base, wheel), { headers: { Authorization: bob } });
    t.is(file.status, 200);
    await file.arrayBuffer();
  }
  t.is((await get(`${s.url}/simple/acme-core/`)).status, 401, "the virtual repository's own rule: authenticated");
});

test('refused uploads leave no trace: no credentials (401), a user not allowed, a read-only token, a token for another repository (403), an expired token (401)', async (t) => {
  const { s, alice } = await setup(t);
  const wheel = await buildWheel({ name: 'acme-new', version: '2.0' });
  const before = await storageCounts(s.storage);
  const readOnly = await addToken(s.storage, 'alice', { scope: 'read' });
  const otherRepo = await addToken(s.storage, 'alice', { repos: ['other'], scope: 'upload' });
  const expired = await addToken(s.storage, 'alice', { scope: 'upload', expiresAt: new Date(Date.now() - 1000).toISOString() });

  const cases: [string, string | null, number, RegExp][] = [
    ['no credentials', null, 401, /Repository 'internal' needs credentials to upload: use twine -u __token__ -p <API token>/],
    ['bob', basic('bob', BOB_PW), 403, /User 'bob' may not upload to repository 'internal'/],
    ['a read-only token', basic('__token__', readOnly.text), 403, /read-only; it may not upload to repository 'internal'/],
    ['a token for repository other', basic('__token__', otherRepo.text), 403, /limited to 'other'; it may not upload to repository 'internal'/],
    ['an expired token', basic('__token__', expired.text), 401, /Invalid username, password or API token/],
  ];
  for (const [what, authorization, status, reason] of cases) {
    const res = await upload(`${s.url}/internal/`, wheel, 'acme-new', '2.0', { headers: { Authorization: authorization } });
    t.is(res.status, status, what);
    t.regex(res.statusText, reason, what);
    if (status === 401) t.regex(res.headers.get('www-authenticate') ?? '', /^Basic realm="pydepot"/, what);
    await res.arrayBuffer();
  }
  t.deepEqual(await storageCounts(s.storage), before, 'no blob and nothing in tmp/');
  t.is((await get(`${s.url}/internal/simple/acme-new/`, alice)).status, 404, 'no project row');
  t.false((await auditOf(s.storage)).some((e) => e.project === 'acme-new'), 'nothing audited');

  // A repository that names no uploader refuses everyone, with the key to change.
  const closed = await upload(`${s.url}/closed/`, wheel, 'acme-new', '2.0', { headers: { Authorization: alice } });
  t.is(closed.status, 403);
  t.is(closed.statusText, "Repository 'closed' accepts uploads from nobody: an operator must name users in repositories.closed.upload.");
});

test('a large upload refused before its body is read still gets its 401, not a broken pipe', async (t) => {
  const { s } = await setup(t);
  const wheel = await buildWheel({ name: 'acme-big', version: '1.0', padBytes: 8 * 1024 * 1024 });
  const res = await upload(`${s.url}/internal/`, wheel, 'acme-big', '1.0', { headers: { Authorization: null } });
  t.is(res.status, 401);
  await res.arrayBuffer();
  t.deepEqual(await storageCounts(s.storage), { blobs: 1, tmp: 0 }, 'only the wheel of setup()');
});

test('uploads are audited with who, which token, from where, what file and its sha256; uploadTo takes uploads through the virtual repository', async (t) => {
  const { s, alice } = await setup(t);
  const token = await addToken(s.storage, 'alice', { repos: ['all'], scope: 'upload' });
  const wheel = await buildWheel({ name: 'acme-deploy', version: '0.1' });
  const res = await upload(`${s.url}/all/`, wheel, 'acme-deploy', '0.1', { headers: { Authorization: basic('__token__', token.text) } });
  t.is(res.status, 200, res.statusText);
  t.is((await get(`${s.url}/internal/simple/acme-deploy/`, alice)).status, 200, 'stored in internal, the uploadTo repository');
  const again = await upload(`${s.url}/internal/`, wheel, 'acme-deploy', '0.1', { headers: { Authorization: alice } });
  t.is(again.status, 200);

  const entries = (await auditOf(s.storage)).filter((e) => e.project === 'acme-deploy');
  t.is(entries.length, 2);
  t.like(entries[0], { actor: 'alice', tokenId: token.id, action: 'upload', repo: 'internal', version: '0.1', filename: wheel.filename, sha256: wheel.sha256, detail: 'created' });
  t.regex(entries[0]!.address ?? '', /127\.0\.0\.1/);
  t.like(entries[1], { actor: 'alice', tokenId: null, detail: 'unchanged' });
  const line = s.logs.find((l) => l.path === '/all/' && l.method === 'POST');
  t.like(line, { user: 'alice', token: token.id, status: 200 });
});

test('revoking a token, changing a password and removing a user take effect on the next request', async (t) => {
  const { s, alice } = await setup(t);
  const page = `${s.url}/internal/simple/acme-core/`;
  const token = await addToken(s.storage, 'alice', { scope: 'read' });
  t.is((await get(page, basic('__token__', token.text))).status, 200);
  await revokeToken(s.storage, token.id);
  t.is((await get(page, basic('__token__', token.text))).status, 401, 'revoked');

  t.is((await get(page, alice)).status, 200, 'the password is verified (and remembered)');
  await setPassword(s.storage, 'alice', 'a-new-password');
  t.is((await get(page, alice)).status, 401, 'the old password no longer works, though it was just verified');
  t.is((await get(page, basic('alice', 'a-new-password'))).status, 200);

  const second = await addToken(s.storage, 'alice', { scope: 'read' });
  t.is((await get(page, basic('__token__', second.text))).status, 200);
  await removeUser(s.storage, 'alice');
  t.is((await get(page, basic('alice', 'a-new-password'))).status, 401);
  t.is((await get(page, basic('__token__', second.text))).status, 401, "a removed user's tokens go with them");
});

test('failed logins are limited per client address: past the budget even the right password gets 429 with Retry-After, and anonymous reads go on', async (t) => {
  const { s, alice } = await setup(t);
  const page = `${s.url}/internal/simple/acme-core/`;
  for (let i = 0; i < 5; i++) t.is((await get(page, basic('alice', `guess-${i}`))).status, 401);
  const limited = await get(page, alice);
  t.is(limited.status, 429);
  const retryAfter = Number(limited.headers.get('retry-after'));
  t.true(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${retryAfter}`);
  t.regex(limited.statusText, /Too many failed logins from \S+; try again in \d+ s\./);
  t.is((await get(page, alice, { 'X-Forwarded-For': '203.0.113.9' })).status, 429, 'X-Forwarded-For is not trusted unless trustProxy is set');
  t.is((await get(`${s.url}/other/simple/`)).status, 200, 'requests without credentials are not limited');
  const metrics = await (await fetch(`${s.url}/-/metrics`)).text();
  t.regex(metrics, /^pydepot_auth_refused_total\{repo="internal",status="401"\} 5$/m);
  t.regex(metrics, /^pydepot_auth_refused_total\{repo="internal",status="429"\} 2$/m);
});

test('with auth.trustProxy the budget is per X-Forwarded-For address', async (t) => {
  const { s, alice } = await setup(t, { ...CONFIG, auth: { failedLoginsPerMinute: 2, trustProxy: true } });
  const page = `${s.url}/internal/simple/acme-core/`;
  const from = (ip: string) => ({ 'X-Forwarded-For': ip });
  for (let i = 0; i < 2; i++) t.is((await get(page, basic('alice', 'wrong'), from('203.0.113.1'))).status, 401);
  t.is((await get(page, alice, from('203.0.113.1'))).status, 429);
  t.is((await get(page, alice, from('203.0.113.2'))).status, 200, 'another client behind the same proxy');
});

test('credentials never reach the logs, the user name does', async (t) => {
  const { s, alice } = await setup(t);
  const token = await addToken(s.storage, 'alice', { scope: 'upload' });
  await get(`${s.url}/internal/simple/acme-core/`, alice);
  await get(`${s.url}/internal/simple/acme-core/`, basic('alice', 'a-wrong-secret'));
  await get(`${s.url}/internal/simple/acme-core/`, basic('__token__', token.text));
  const w = await buildWheel({ name: 'acme-logged', version: '1.0' });
  t.is((await upload(`${s.url}/internal/`, w, 'acme-logged', '1.0', { headers: { Authorization: basic('__token__', token.text) } })).status, 200);
  const logs = JSON.stringify(s.logs);
  for (const secret of [ALICE_PW, 'a-wrong-secret', token.text, token.text.slice(8), alice.slice(6), basic('__token__', token.text).slice(6)]) {
    t.false(logs.includes(secret), `not in the logs: ${secret.slice(0, 12)}…`);
  }
  t.true(s.logs.some((l) => l.user === 'alice' && l.status === 200));
  t.true(s.logs.some((l) => l.auth === 'failed' && l.status === 401));
});

/** pydepot_auth_password_checks_total: scrypt verifications the server has run (NaN while the metric does not exist). */
async function passwordChecks(base: string): Promise<number> {
  const text = await (await fetch(`${base}/-/metrics`)).text();
  const m = /^pydepot_auth_password_checks_total (\d+)$/m.exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

function countStatuses(responses: { status: number }[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const r of responses) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}

test('a burst of concurrent wrong passwords: an attempt is reserved before each hash, so at most the budget is hashed (unknown users included) and the rest get 429', async (t) => {
  const { s, alice } = await setup(t, { ...CONFIG, auth: { failedLoginsPerMinute: 5, trustProxy: true } });
  const page = `${s.url}/internal/simple/acme-core/`;
  const from = (ip: string) => ({ 'X-Forwarded-For': ip });

  // 100 different guesses at once from one address, every other one for a user that does not exist (the decoy hash).
  let checks = await passwordChecks(s.url);
  const guesses = await Promise.all(Array.from({ length: 100 }, (_, i) =>
    get(page, basic(i % 2 ? 'alice' : `mallory-${i}`, `guess-${i}`), from('203.0.113.1'))));
  const guessed = countStatuses(guesses);
  t.is(guessed[401], 5, `only the budget is checked: ${JSON.stringify(guessed)}`);
  t.is(guessed[429], 95, 'the rest are refused before any hash');
  t.true(guesses.filter((r) => r.status === 429).every((r) => Number(r.headers.get('retry-after')) >= 1), 'each 429 says when to retry');
  const hashed = (await passwordChecks(s.url)) - checks;
  t.true(hashed >= 1 && hashed <= 5, `scrypt verifications for the burst: ${hashed}`);

  // The same wrong password 50 times at once: the guesses share a hash, and past the budget they are 429 as well.
  checks = await passwordChecks(s.url);
  const same = await Promise.all(Array.from({ length: 50 }, () => get(page, basic('alice', 'the-same-guess'), from('203.0.113.2'))));
  const sameCounts = countStatuses(same);
  t.is(sameCounts[401], 5, JSON.stringify(sameCounts));
  t.is(sameCounts[429], 45);
  const sameHashed = (await passwordChecks(s.url)) - checks;
  t.true(sameHashed >= 1 && sameHashed <= 5, `scrypt verifications for the same guess: ${sameHashed}`);

  // Right passwords at once from a third address share one hash and are never refused.
  const right = await Promise.all(Array.from({ length: 20 }, () => get(page, alice, from('203.0.113.3'))));
  t.deepEqual(countStatuses(right), { 200: 20 });

  // The budget is spent: even the right password waits for the window to end.
  t.is((await get(page, alice, from('203.0.113.1'))).status, 429);
  t.is((await get(page, alice, from('203.0.113.2'))).status, 429);
});

test('a burst of wrong passwords does not stall downloads: a 1 KB file from a public repository comes back as fast during the burst as alone', async (t) => {
  const { s, alice } = await setup(t, { ...CONFIG, auth: { failedLoginsPerMinute: 10 } });
  const small = await buildWheel({ name: 'acme-small', version: '1.0' });
  const res = await upload(`${s.url}/other/`, small, 'acme-small', '1.0', { headers: { Authorization: alice } });
  t.is(res.status, 200, res.statusText);
  await res.arrayBuffer();
  const url = fileUrl(`${s.url}/other`, small);

  const download = async (): Promise<{ ms: number; endedAt: number }> => {
    const t0 = performance.now();
    const r = await fetch(url);
    const body = Buffer.from(await r.arrayBuffer());
    const endedAt = performance.now();
    t.is(r.status, 200);
    t.true(body.equals(small.bytes));
    return { ms: endedAt - t0, endedAt };
  };
  await download();
  const times: number[] = [];
  for (let i = 0; i < 5; i++) times.push((await download()).ms);
  const alone = times.sort((a, b) => a - b)[2]!;

  // 100 wrong passwords at once on the protected repository, from the client address the downloads come from
  // (they carry no credentials, so the budget does not touch them). A budget of 10 hashes, run one or two at a
  // time, keeps the burst going for several hash times after its first answer.
  const page = `${s.url}/internal/simple/acme-core/`;
  const burstStart = performance.now();
  const requests = Array.from({ length: 100 }, (_, i) => get(page, basic('alice', `guess-${i}`)));
  let burstEnd = Number.POSITIVE_INFINITY;
  const burst = Promise.all(requests).then((all) => {
    burstEnd = performance.now();
    return all;
  });
  // The server is answering the burst: its first response is in.
  await Promise.race(requests);
  const during = await download();
  const statuses = countStatuses(await burst);

  t.log(`${small.bytes.length} B file: alone ${alone.toFixed(1)} ms (median of 5), during the burst ${during.ms.toFixed(1)} ms; burst ${(burstEnd - burstStart).toFixed(0)} ms, ${JSON.stringify(statuses)}`);
  t.true(during.endedAt < burstEnd, `the download finished while the burst was still running (download ended at +${(during.endedAt - burstStart).toFixed(0)} ms, burst at +${(burstEnd - burstStart).toFixed(0)} ms)`);
  t.true(during.ms <= 10 * alone + 200, `the download took ${during.ms.toFixed(1)} ms during the burst, ${alone.toFixed(1)} ms alone`);
  t.true((statuses[401] ?? 0) <= 10, `at most the budget verified: ${JSON.stringify(statuses)}`);
});
