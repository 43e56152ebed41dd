import test from 'ava';
import type { Audience } from '../../src/config/schema.ts';
import { Authenticator } from '../../src/auth/authenticator.ts';
import { parseAuthorization, type Credentials } from '../../src/auth/credentials.ts';
import { FailedLogins } from '../../src/auth/failed-logins.ts';
import { createLimiter } from '../../src/auth/hash-queue.ts';
import { DECOY_HASH, hashPassword, verifyPassword } from '../../src/auth/passwords.ts';
import { decideAccess, type AccessRequest, type Identity } from '../../src/auth/permissions.ts';
import { looksLikeToken, newToken, parseExpiry, tokenHash, tokenState } from '../../src/auth/tokens.ts';
import type { UserRow, UserStore } from '../../src/storage/types.ts';
import { parseDate, parseDuration } from '../../src/time.ts';

const anyone: Audience = { kind: 'anonymous' };
const members: Audience = { kind: 'authenticated' };
const aliceOnly: Audience = { kind: 'users', users: ['alice'] };
const nobody: Audience = { kind: 'users', users: [] };

const alice: Identity = { user: 'alice', token: null };
const bob: Identity = { user: 'bob', token: null };
const aliceToken = (repos: string[] | null, scope: 'read' | 'upload'): Identity => ({ user: 'alice', token: { id: 't1', repos, scope } });

const read: AccessRequest = { action: 'read', repo: 'internal' };
const upload: AccessRequest = { action: 'upload', repo: 'internal' };
const uploadViaAll: AccessRequest = { action: 'upload', repo: 'all', storedIn: 'internal' };

const CASES: [string, AccessRequest, Audience, Identity | null, true | [401 | 403, RegExp]][] = [
  ['anyone reads a public repository', read, anyone, null, true],
  ['a token for another repository still reads a public one', read, anyone, aliceToken(['other'], 'read'), true],
  ['authenticated: no credentials → 401', read, members, null, [401, /Repository 'internal' needs credentials to read/]],
  ['authenticated: any user', read, members, bob, true],
  ['a list: a listed user', read, aliceOnly, alice, true],
  ['a list: another user → 403 naming user, action and repository', read, aliceOnly, bob, [403, /User 'bob' may not read repository 'internal'/]],
  ['a list: no credentials → 401', read, aliceOnly, null, [401, /needs credentials/]],
  ['uploads by nobody: 403 with the config key to change, even for a valid user', upload, nobody, alice, [403, /accepts uploads from nobody.*repositories\.internal\.upload/]],
  ['uploads by nobody: 403 without credentials too (asking for them would not help)', upload, nobody, null, [403, /accepts uploads from nobody/]],
  ['upload: no credentials → 401 that names twine\'s flags', upload, aliceOnly, null, [401, /needs credentials to upload: use twine -u __token__/]],
  ['upload: listed user with her password', upload, aliceOnly, alice, true],
  ['upload: an upload token for the repository', upload, aliceOnly, aliceToken(['internal'], 'upload'), true],
  ['upload: an upload token for every repository', upload, aliceOnly, aliceToken(null, 'upload'), true],
  ['upload: a read-only token → 403', upload, aliceOnly, aliceToken(null, 'read'), [403, /read-only.*--scope upload/]],
  ['upload: a token for repository A used on B → 403', upload, aliceOnly, aliceToken(['other'], 'upload'), [403, /limited to 'other'; it may not upload to repository 'internal'/]],
  ['a token never widens its owner: bob\'s token is still bob', upload, aliceOnly, { user: 'bob', token: { id: 't2', repos: null, scope: 'upload' } }, [403, /User 'bob' may not upload/]],
  ['read: a read token for the repository', read, aliceOnly, aliceToken(['internal'], 'read'), true],
  ['read: a token for another repository → 403', read, members, aliceToken(['other'], 'read'), [403, /limited to 'other'/]],
  ['upload through a virtual repository: a token for the stored-in repository', uploadViaAll, aliceOnly, aliceToken(['internal'], 'upload'), true],
  ['upload through a virtual repository: a token for the virtual repository', uploadViaAll, aliceOnly, aliceToken(['all'], 'upload'), true],
  ['upload through a virtual repository: the 403 names where it would be stored', uploadViaAll, aliceOnly, bob, [403, /may not upload to repository 'internal'/]],
];

for (const [title, req, audience, who, expected] of CASES) {
  test(`decideAccess: ${title}`, (t) => {
    const d = decideAccess(req, audience, who);
    if (expected === true) {
      t.deepEqual(d, { allow: true });
    } else {
      t.false(d.allow);
      if (d.allow) return;
      t.is(d.status, expected[0]);
      t.regex(d.reason, expected[1]);
      t.notRegex(d.reason, /\n/, 'one line');
    }
  });
}

test('parseAuthorization: Basic (UTF-8, colons in the password), Bearer/token, malformed, absent', (t) => {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  t.deepEqual(parseAuthorization(`Basic ${b64('alice:p:ss wörd')}`), { kind: 'basic', username: 'alice', password: 'p:ss wörd' });
  t.deepEqual(parseAuthorization(`basic ${b64('__token__:pydepot-x')}`), { kind: 'basic', username: '__token__', password: 'pydepot-x' });
  t.deepEqual(parseAuthorization('Bearer pydepot-abc'), { kind: 'token', token: 'pydepot-abc' });
  t.deepEqual(parseAuthorization('token pydepot-abc'), { kind: 'token', token: 'pydepot-abc' });
  t.is(parseAuthorization(undefined), null);
  t.is(parseAuthorization(''), null);
  t.is(parseAuthorization('Basic'), 'malformed');
  t.is(parseAuthorization(`Basic ${b64('no-colon')}`), 'malformed');
  t.is(parseAuthorization('Digest username="x"'), 'malformed');
});

test('passwords: scrypt with a per-user salt; a wrong password, a decoy and an unreadable hash never verify', async (t) => {
  const a = await hashPassword('correct horse');
  const b = await hashPassword('correct horse');
  t.regex(a, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  t.not(a, b, 'each hash has its own salt');
  t.true(await verifyPassword('correct horse', a));
  t.true(await verifyPassword('correct horse', b));
  t.false(await verifyPassword('correct horsE', a));
  t.false(await verifyPassword('', a));
  t.false(await verifyPassword('correct horse', DECOY_HASH));
  t.false(await verifyPassword('x', 'bcrypt$2b$10$abc'));
  t.false(await verifyPassword('x', 'scrypt$NaN$8$1$AA==$AA=='));
});

test('tokens: pydepot- + 32 random bytes in base64url; only the sha256 is kept', (t) => {
  const a = newToken();
  const b = newToken();
  t.regex(a.text, /^pydepot-[A-Za-z0-9_-]{43}$/);
  t.not(a.text, b.text);
  t.not(a.id, b.id);
  t.is(a.hash, tokenHash(a.text));
  t.regex(a.hash, /^[0-9a-f]{64}$/);
  t.false(a.hash.includes(a.text.slice(8)));
  t.true(looksLikeToken(a.text));
  t.false(looksLikeToken('pydepot-short'));
  t.false(looksLikeToken('a password'));
});

test('parseExpiry: durations, dates, never; past dates and nonsense are refused', (t) => {
  const now = new Date('2026-12-01T00:00:00Z');
  t.is(parseExpiry('90d', now), '2027-03-01T00:00:00.000Z');
  t.is(parseExpiry('12h', now), '2026-12-01T12:00:00.000Z');
  t.is(parseExpiry('2w', now), '2026-12-15T00:00:00.000Z');
  t.is(parseExpiry('30m', now), '2026-12-01T00:30:00.000Z');
  t.is(parseExpiry('1y', now), '2027-12-01T00:00:00.000Z');
  t.is(parseExpiry('2027-06-30', now), '2027-06-30T00:00:00.000Z');
  t.is(parseExpiry('never', now), null);
  for (const bad of ['soon', '0d', '-5d', '90', '2020-01-01', '2027-13-45', '']) t.is(parseExpiry(bad, now), undefined, bad);
});

test('FailedLogins: the budget is per address and per minute; beyond it Retry-After counts down to the end of the window', (t) => {
  let now = 1_000_000;
  const f = new FailedLogins(3, () => now);
  t.is(f.retryAfter('10.0.0.1'), 0);
  f.fail('10.0.0.1');
  f.fail('10.0.0.1');
  t.is(f.retryAfter('10.0.0.1'), 0, 'two failures of three: still allowed');
  f.fail('10.0.0.1');
  t.is(f.retryAfter('10.0.0.1'), 60);
  t.is(f.retryAfter('10.0.0.2'), 0, 'another address is not affected');
  now += 45_500;
  t.is(f.retryAfter('10.0.0.1'), 15);
  now += 14_500;
  t.is(f.retryAfter('10.0.0.1'), 0, 'a new window');
  f.fail('10.0.0.1');
  t.is(f.retryAfter('10.0.0.1'), 0, 'the count started again');
});

test('parseDate and parseDuration are strict: no rolled-over days, no trailing junk', (t) => {
  t.is(parseDate('2026-11-30')?.toISOString(), '2026-11-30T00:00:00.000Z');
  t.is(parseDate('2026-11-30T12:00Z')?.toISOString(), '2026-11-30T12:00:00.000Z');
  t.is(parseDate('2026-11-30T12:00:05+01:00')?.toISOString(), '2026-11-30T11:00:05.000Z');
  t.is(parseDate('2026-11-30T12:00')?.toISOString(), '2026-11-30T12:00:00.000Z', 'no zone: UTC');
  for (const bad of ['2026-02-31', '2026-11-30junk', '2026-13-01', '30/11/2026', 'yesterday', '2026-11-30T25:00Z']) t.is(parseDate(bad), null, bad);
  t.is(parseDuration('7d'), 7 * 86_400_000);
  t.is(parseDuration('0d'), null);
  t.is(parseDuration('7 days'), null);
});

test('tokenState: revoked wins over expired; a token expires at its instant', (t) => {
  const now = new Date('2026-12-01T00:00:00Z');
  t.is(tokenState({ revokedAt: null, expiresAt: null }, now), 'active');
  t.is(tokenState({ revokedAt: null, expiresAt: '2026-12-01T00:00:00.001Z' }, now), 'active');
  t.is(tokenState({ revokedAt: null, expiresAt: '2026-12-01T00:00:00.000Z' }, now), 'expired');
  t.is(tokenState({ revokedAt: '2026-11-01T00:00:00Z', expiresAt: '2026-01-01T00:00:00Z' }, now), 'revoked');
});

test('FailedLogins.reserve: an attempt is taken from the budget before hashing, atomically; a right password gives it back, a wrong one keeps it', (t) => {
  let now = 1_000_000;
  const f = new FailedLogins(3, () => now);
  const a = '10.0.0.1';
  t.is(f.reserve(a), 0);
  t.is(f.reserve(a), 0);
  t.is(f.reserve(a), 0);
  t.is(f.reserve(a), 1, 'three checks in flight: a fourth is refused before it is hashed');
  t.is(f.retryAfter(a), 0, 'checks in flight do not refuse a remembered right password');
  t.is(f.reserve('10.0.0.2'), 0, 'another address has its own budget');

  f.release(a);
  t.is(f.reserve(a), 0, 'a right password gave its attempt back');
  f.spend(a);
  f.spend(a);
  t.is(f.retryAfter(a), 0, 'two failures of three');
  t.is(f.reserve(a), 60, 'two failures and one check in flight fill the budget');
  now += 20_000;
  f.spend(a);
  t.is(f.retryAfter(a), 40, 'three failures: refused until the window that began with the first one ends');
  t.is(f.reserve(a), 40);
  now += 40_000;
  t.is(f.retryAfter(a), 0, 'a new window');
  t.is(f.reserve(a), 0, 'the count started again');
});

test('FailedLogins.fail: a failure that reserved nothing (a wrong token, a shared check) still counts, and says when it went past the budget', (t) => {
  let now = 1_000_000;
  const f = new FailedLogins(2, () => now);
  const a = '10.0.0.1';
  t.is(f.reserve(a), 0);
  t.is(f.fail(a), 0, 'one failure and one check in flight: within the budget');
  t.is(f.fail(a), 60, 'past it');
  f.spend(a);
  t.is(f.retryAfter(a), 60);
  now += 60_000;
  t.is(f.fail(a), 0, 'a new window');
  t.is(f.retryAfter(a), 0);
});

test('FailedLogins: a check still in flight when its window ends settles in the next one', (t) => {
  let now = 1_000_000;
  const f = new FailedLogins(2, () => now);
  const a = '10.0.0.1';
  f.fail(a);
  t.is(f.reserve(a), 0);
  now += 60_000;
  t.is(f.reserve(a), 0, 'the old failure is forgotten…');
  t.is(f.reserve(a), 1, '…the check in flight is not');
  f.spend(a);
  f.release(a);
  t.is(f.reserve(a), 0, 'one failure (in this window) and one check in flight');
  t.is(f.reserve(a), 60);
});

/** The part of a UserStore the Authenticator reads for passwords: users by name, no tokens. */
function usersWith(hashes: Record<string, string>): UserStore {
  const getUser = (name: string) => (Object.hasOwn(hashes, name) ? ({ name, passwordHash: hashes[name] } as unknown as UserRow) : null);
  return { getUser, tokenByHash: () => null, touchToken: () => {} } as unknown as UserStore;
}

const pw = (username: string, password: string): Credentials => ({ kind: 'basic', username, password });

test('Authenticator: concurrent wrong passwords hash at most the budget (decoys for unknown users too); a remembered password neither reserves nor waits for them', async (t) => {
  const users = usersWith({ alice: await hashPassword('right'), bob: await hashPassword('bobs') });
  let checks = 0;
  const auth = new Authenticator(users, { failures: new FailedLogins(3), passwordChecks: { inc: () => checks++ } });
  t.like(await auth.authenticate(pw('alice', 'right'), '10.0.0.9'), { kind: 'valid', identity: { user: 'alice', token: null } });
  t.is(checks, 1);

  let burstDone = false;
  const burst = Promise.all(Array.from({ length: 20 }, (_, i) => auth.authenticate(pw(i % 2 ? 'alice' : `nobody-${i}`, `guess-${i}`), '10.0.0.1')))
    .finally(() => { burstDone = true; });
  const remembered = await auth.authenticate(pw('alice', 'right'), '10.0.0.1');
  t.is(remembered.kind, 'valid', 'checks in flight do not refuse a remembered password');
  t.false(burstDone, 'it did not wait for the hashes queued by the burst');
  const kinds = (await burst).map((r) => r.kind);
  t.is(kinds.filter((k) => k === 'invalid').length, 3);
  t.is(kinds.filter((k) => k === 'limited').length, 17);
  t.is(checks, 1 + 3, 'only the budget was hashed');
  t.like(await auth.authenticate(pw('alice', 'right'), '10.0.0.1'), { kind: 'limited' }, 'past the budget even the right password is refused');

  // Concurrent right passwords from one address share one hash and are never refused for it.
  const right = await Promise.all(Array.from({ length: 10 }, () => auth.authenticate(pw('bob', 'bobs'), '10.0.0.2')));
  t.true(right.every((r) => r.kind === 'valid'));
  t.is(checks, 5);
  // The same wrong password at once: one hash; the requests that shared it still count, so past the budget they are refused.
  const same = await Promise.all(Array.from({ length: 10 }, () => auth.authenticate(pw('bob', 'nope'), '10.0.0.3')));
  t.is(same.filter((r) => r.kind === 'invalid').length, 3);
  t.is(same.filter((r) => r.kind === 'limited').length, 7);
  t.is(checks, 6);
});

test('the hash queue runs at most its limit at a time, in the order the tasks came', async (t) => {
  const limit = createLimiter(2);
  let running = 0;
  let most = 0;
  const started: number[] = [];
  const releases: (() => void)[] = [];
  const tasks = Array.from({ length: 6 }, (_, i) => limit(async () => {
    started.push(i);
    most = Math.max(most, ++running);
    await new Promise<void>((resolve) => releases.push(resolve));
    running--;
    if (i === 3) throw new Error('a failed task frees its place too');
    return i;
  }));
  for (let i = 0; i < 6; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    releases.shift()?.();
  }
  const results = await Promise.allSettled(tasks);
  t.is(most, 2);
  t.deepEqual(started, [0, 1, 2, 3, 4, 5]);
  t.deepEqual(results.map((r) => (r.status === 'fulfilled' ? r.value : 'failed')), [0, 1, 2, 'failed', 4, 5]);
});
