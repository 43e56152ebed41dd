/**
 * `pydepot user …`, `token …`, `audit` and `delete`, run as an operator runs
 * them: on the storage of a server that keeps running, through a connection
 * of their own (in-process here: test/helpers/cli.ts). Every change must show
 * on the server's next request (SQLite WAL, no restart).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { stringify } from 'yaml';
import { tokenHash } from '../../src/auth/tokens.ts';
import { openTestStorage } from '../helpers/test-backend.ts';
import { pydepot } from '../helpers/cli.ts';
import type { RunResult } from '../helpers/clients.ts';
import { buildSdist, buildWheel, type BuiltDist } from '../helpers/dists.ts';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';

const TOKEN_LINE = /^pydepot-[A-Za-z0-9_-]{43}\n$/;

interface Setup {
  s: TestServer;
  /** Runs `pydepot ARGS --config <the server's config> --storage <its storage>`, `input` on stdin. */
  cli(args: string[], input?: string): Promise<RunResult>;
}

/** A server on `raw`, and the same config in a YAML file for the CLI. */
async function setup(t: ExecutionContext, raw: Record<string, unknown>): Promise<Setup> {
  const s = await startTestServer(t, raw);
  const dir = await tempDir(t);
  const config = join(dir, 'pydepot.yaml');
  await writeFile(config, stringify(raw));
  // In-process, with no PYDEPOT_* variables: the config file and --storage decide,
  // not the environment of whoever runs the tests. `input` is a pipe, never a TTY:
  // what `echo pw | pydepot …` gives.
  const cli = (args: string[], input = ''): Promise<RunResult> => pydepot([...args, '--config', config, '--storage', s.storage], { input });
  return { s, cli };
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const tokenAuth = (token: string): string => basic('__token__', token);

async function statusOf(url: string, authorization?: string): Promise<number> {
  const res = await fetch(url, authorization ? { headers: { Authorization: authorization } } : {});
  await res.arrayBuffer();
  return res.status;
}

/** What the server says about a project: its filenames (JSON simple API), or null for 404. */
async function filesOf(s: TestServer, repo: string, project: string): Promise<string[] | null> {
  const res = await fetch(`${s.url}/${repo}/simple/${project}/`, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } });
  if (res.status === 404) {
    await res.arrayBuffer();
    return null;
  }
  const body = (await res.json()) as { files: { filename: string }[] };
  return body.files.map((f) => f.filename).sort();
}

const fileUrl = (s: TestServer, repo: string, d: BuiltDist): string => `${s.url}/${repo}/files/${d.sha256}/${encodeURIComponent(d.filename)}`;

/**
 * Adds a token that expired yesterday, the way the store holds one after its
 * time ran out (`token create` refuses past dates), from a second connection.
 */
async function addExpiredToken(storage: string, user: string, text: string): Promise<{ id: string; expiresAt: string }> {
  const st = await openTestStorage(storage);
  try {
    const id = `e${user.slice(0, 1)}`.padEnd(12, '0');
    const expiresAt = new Date(Date.now() - 86_400_000).toISOString();
    await st.users.addToken({
      id, hash: tokenHash(text), user, repos: null, scope: 'read', description: null,
      createdAt: new Date(Date.now() - 2 * 86_400_000).toISOString(), expiresAt, revokedAt: null, lastUsedAt: null,
    });
    return { id, expiresAt };
  } finally {
    await st.store.close();
  }
}

const PRIVATE = { repositories: { internal: { type: 'local', read: 'authenticated', upload: ['alice'] } } };

test('user add, passwd and list: the server asks for credentials and takes the new ones at once', async (t) => {
  const { s, cli } = await setup(t, PRIVATE);
  const index = `${s.url}/internal/simple/`;

  const add = await cli(['user', 'add', 'alice', '--password-stdin'], 'alice-password-1\n');
  t.is(add.code, 0, add.stderr);
  t.regex(add.stdout, /added user alice/);

  const anonymous = await fetch(index);
  await anonymous.arrayBuffer();
  t.is(anonymous.status, 401);
  t.regex(anonymous.headers.get('WWW-Authenticate') ?? '', /^Basic realm="pydepot"/);
  t.is(await statusOf(index, basic('alice', 'alice-password-1')), 200);
  t.is(await statusOf(index, basic('alice', 'alice-password-2')), 401);

  const again = await cli(['user', 'add', 'alice', '--password-stdin'], 'another-password\n');
  t.is(again.code, 1);
  t.regex(again.stderr, /user 'alice' exists already/);
  t.is(again.stdout, '');
  // The old password still works: nothing changed.
  t.is(await statusOf(index, basic('alice', 'alice-password-1')), 200);

  const short = await cli(['user', 'add', 'bob', '--password-stdin'], 'short\n');
  t.is(short.code, 1);
  t.regex(short.stderr, /at least 8 characters/);

  const noTty = await cli(['user', 'add', 'carol']);
  t.is(noTty.code, 1);
  t.regex(noTty.stderr, /--password-stdin/);

  // An expired token is refused, and is not one of her active tokens.
  const stale = `pydepot-${'e'.repeat(43)}`;
  await addExpiredToken(s.storage, 'alice', stale);
  t.is(await statusOf(index, tokenAuth(stale)), 401);

  const list = await cli(['user', 'list']);
  t.is(list.code, 0, list.stderr);
  const names = list.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]);
  t.deepEqual(names, ['alice', 'ci']);
  t.regex(list.stdout, /^alice {2}created \S+ {2}0 active tokens$/m);

  const json = await cli(['user', 'list', '--json']);
  t.is(json.code, 0, json.stderr);
  const users = JSON.parse(json.stdout) as { name: string; createdAt: string; activeTokens: number }[];
  t.deepEqual(users.map((u) => u.name), ['alice', 'ci']);
  t.is(users.find((u) => u.name === 'ci')!.activeTokens, 1);
  t.is(users.find((u) => u.name === 'alice')!.activeTokens, 0, 'an expired token is not active');
  t.false(Number.isNaN(Date.parse(users[0]!.createdAt)));
  t.false(json.stdout.includes('scrypt$'), 'no password hash in the listing');

  const passwd = await cli(['user', 'passwd', 'alice', '--password-stdin'], 'alice-password-2\n');
  t.is(passwd.code, 0, passwd.stderr);
  t.regex(passwd.stdout, /changed the password of alice/);
  // The old password was verified (and remembered) a moment ago: it must be refused now all the same.
  t.is(await statusOf(index, basic('alice', 'alice-password-1')), 401);
  t.is(await statusOf(index, basic('alice', 'alice-password-2')), 200);
});

test('token create, list and revoke: printed once, works as __token__, refused after revoke', async (t) => {
  const { s, cli } = await setup(t, PRIVATE);
  t.is((await cli(['user', 'add', 'alice', '--password-stdin'], 'alice-password-1')).code, 0);

  const before = Date.now();
  const created = await cli(['token', 'create', '--user', 'alice', '--scope', 'upload', '--repo', 'internal', '--expires', '90d', '--description', 'ci']);
  t.is(created.code, 0, created.stderr);
  t.regex(created.stdout, TOKEN_LINE);
  const token = created.stdout.trim();
  t.regex(created.stderr, /shown once/);
  t.false(created.stderr.includes(token), 'the token is on stdout only');
  const id = /created token ([0-9a-f]{12}) for alice/.exec(created.stderr)?.[1];
  t.truthy(id, created.stderr);

  const wheel = await buildWheel({ name: 'acme-core', version: '1.0' });
  const up = await upload(`${s.url}/internal/`, wheel, 'acme-core', '1.0', { headers: { Authorization: tokenAuth(token) } });
  t.is(up.status, 200, await up.text());
  t.is(await statusOf(`${s.url}/internal/simple/acme-core/`), 401, 'reading needs credentials');
  t.is(await statusOf(`${s.url}/internal/simple/acme-core/`, tokenAuth(token)), 200);

  const stale = `pydepot-${'e'.repeat(43)}`;
  const expired = await addExpiredToken(s.storage, 'alice', stale);
  t.is(await statusOf(`${s.url}/internal/simple/acme-core/`, tokenAuth(stale)), 401);

  const list = await cli(['token', 'list']);
  t.is(list.code, 0, list.stderr);
  t.regex(list.stdout, new RegExp(`^${expired.id}  alice  read  repos=\\*  expired ${expired.expiresAt}  never used$`, 'm'));
  t.false(list.stdout.includes(token));
  t.false(list.stdout.includes(tokenHash(token)));
  const line = list.stdout.split('\n').find((l) => l.startsWith(`${id}  `));
  t.truthy(line, list.stdout);
  t.regex(line!, new RegExp(`^${id}  alice  upload  repos=internal  active until (\\S+)  last used \\S+  ci$`));
  const until = Date.parse(/active until (\S+)/.exec(line!)![1]!);
  t.true(Math.abs(until - (before + 90 * 86_400_000)) < 5 * 60_000, `expires about 90 days from now: ${line}`);
  // The seeded ci token, never used here.
  t.regex(list.stdout, /^c1c1c1c1c1c1  ci  upload  repos=\*  active  never used  tests$/m);

  const revoked = await cli(['token', 'revoke', id!]);
  t.is(revoked.code, 0, revoked.stderr);
  t.regex(revoked.stdout, new RegExp(`revoked token ${id}`));
  t.is(await statusOf(`${s.url}/internal/simple/acme-core/`, tokenAuth(token)), 401);
  const refused = await upload(`${s.url}/internal/`, await buildWheel({ name: 'acme-core', version: '1.1' }), 'acme-core', '1.1', { headers: { Authorization: tokenAuth(token) } });
  t.is(refused.status, 401);
  // Nor as alice's password.
  t.is(await statusOf(`${s.url}/internal/simple/`, basic('alice', token)), 401);

  const after = await cli(['token', 'list']);
  t.is(after.code, 0, after.stderr);
  t.regex(after.stdout, new RegExp(`^${id}  alice  upload  repos=internal  revoked \\S+  last used \\S+  ci$`, 'm'));

  const json = await cli(['token', 'list', '--user', 'alice', '--json']);
  t.is(json.code, 0, json.stderr);
  const rows = (JSON.parse(json.stdout) as Record<string, unknown>[]).filter((r) => r.id !== expired.id);
  t.is(rows.length, 1);
  t.like(rows[0], { id, user: 'alice', scope: 'upload', repos: ['internal'], description: 'ci' });
  t.truthy(rows[0]!.revokedAt);
  t.truthy(rows[0]!.lastUsedAt);
  t.false('hash' in rows[0]!);
  t.false(json.stdout.includes(token) || json.stdout.includes(tokenHash(token)));

  const twice = await cli(['token', 'revoke', id!]);
  t.is(twice.code, 1);
  t.regex(twice.stderr, new RegExp(`token ${id} was already revoked`));

  const unknown = await cli(['token', 'revoke', '0123456789ab']);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /no token '0123456789ab'/);
});

test('token create refuses what it cannot honour, and creates nothing', async (t) => {
  const { cli } = await setup(t, PRIVATE);
  const create = (...args: string[]) => cli(['token', 'create', ...args]);
  const cases: [string[], RegExp][] = [
    [['--user', 'nobody'], /no user 'nobody'/],
    [['--user', 'ci', '--repo', 'internal', '--repo', 'nope'], /--repo nope: no such repository \(configured: internal\)/],
    [['--user', 'ci', '--scope', 'admin'], /--scope must be read or upload, not 'admin'/],
    [['--user', 'ci', '--expires', 'soon'], /--expires soon: expected a duration/],
    [['--user', 'ci', '--expires', '-5d'], /--expires -5d: expected a duration/],
    [['--user', 'ci', '--expires', '2020-01-01'], /--expires 2020-01-01: .*a future date/],
  ];
  // Concurrently: each run has its own output and storage connection, and none writes.
  const results = await Promise.all(cases.map(([args]) => create(...args)));
  for (const [i, r] of results.entries()) {
    const [args, message] = cases[i]!;
    t.is(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message, args.join(' '));
    t.is(r.stdout, '', `${args.join(' ')} prints no token`);
  }
  const list = await cli(['token', 'list']);
  t.is(list.code, 0, list.stderr);
  t.deepEqual(list.stdout.trim().split('\n').map((l) => l.split('  ')[0]), ['c1c1c1c1c1c1']);
});

test('audit, delete and user remove: who changed which file, while the server runs', async (t) => {
  const { s, cli } = await setup(t, {
    repositories: {
      internal: { type: 'local', upload: ['alice'] },
      other: { type: 'local', upload: ['ci'] },
    },
  });
  t.is((await cli(['user', 'add', 'alice', '--password-stdin'], 'alice-password-1')).code, 0);
  const created = await cli(['token', 'create', '--user', 'alice', '--scope', 'upload', '--repo', 'internal']);
  t.is(created.code, 0, created.stderr);
  const token = created.stdout.trim();
  const id = /created token ([0-9a-f]{12})/.exec(created.stderr)![1]!;

  const w1 = await buildWheel({ name: 'acme-core', version: '1.0' });
  const w2 = await buildWheel({ name: 'acme-core', version: '2.0' });
  const s2 = await buildSdist({ name: 'acme-core', version: '2.0' });
  for (const [d, v] of [[w1, '1.0'], [w2, '2.0'], [s2, '2.0']] as const) {
    const r = await upload(`${s.url}/internal/`, d, 'acme-core', v, { headers: { Authorization: tokenAuth(token) } });
    t.is(r.status, 200, `${d.filename}: ${await r.text()}`);
  }
  // Another repository's change, which `audit --repo internal` leaves out.
  const elsewhere = await buildWheel({ name: 'other-pkg', version: '1.0' });
  t.is((await upload(`${s.url}/other/`, elsewhere, 'other-pkg', '1.0')).status, 200);
  t.deepEqual(await filesOf(s, 'internal', 'acme-core'), [w1.filename, w2.filename, s2.filename].sort());
  t.is(await statusOf(fileUrl(s, 'internal', w1)), 200);

  const y = await cli(['yank', 'internal', 'acme-core', '1.0', '--reason', 'broken build']);
  t.is(y.code, 0, y.stderr);
  const u = await cli(['unyank', 'internal', 'acme-core', '1.0']);
  t.is(u.code, 0, u.stderr);

  const del = await cli(['delete', 'internal', 'Acme_Core', '1.0']);
  t.is(del.code, 0, del.stderr);
  t.regex(del.stdout, /deleted 1 file of acme-core 1\.0 from internal/);
  t.true(del.stdout.includes(`${w1.filename}  sha256 ${w1.sha256}`), del.stdout);
  t.deepEqual(await filesOf(s, 'internal', 'acme-core'), [w2.filename, s2.filename].sort());
  t.false((await (await fetch(`${s.url}/internal/simple/acme-core/`)).text()).includes(w1.filename));
  t.is(await statusOf(fileUrl(s, 'internal', w1)), 404);

  const absent = await cli(['delete', 'internal', 'acme-core', '1.0']);
  t.is(absent.code, 1);
  t.regex(absent.stderr, /acme-core 1\.0 is not in repository 'internal'/);

  const one = await cli(['delete', 'internal', 'acme-core', '2.0', '--file', w2.filename]);
  t.is(one.code, 0, one.stderr);
  t.regex(one.stdout, /deleted 1 file of acme-core 2\.0 from internal/);
  t.deepEqual(await filesOf(s, 'internal', 'acme-core'), [s2.filename]);
  t.is(await statusOf(fileUrl(s, 'internal', w2)), 404);
  t.is(await statusOf(fileUrl(s, 'internal', s2)), 200);

  // Removing alice takes her token with her, at once; what she did stays on record.
  t.is(await statusOf(`${s.url}/internal/simple/acme-core/`, tokenAuth(token)), 200);
  const removed = await cli(['user', 'remove', 'alice']);
  t.is(removed.code, 0, removed.stderr);
  t.regex(removed.stdout, /removed user alice and 1 active API token$/m);
  t.is(await statusOf(`${s.url}/internal/simple/acme-core/`, tokenAuth(token)), 401);
  const late = await upload(`${s.url}/internal/`, await buildWheel({ name: 'acme-core', version: '3.0' }), 'acme-core', '3.0', { headers: { Authorization: tokenAuth(token) } });
  t.is(late.status, 401);
  const users = await cli(['user', 'list']);
  t.is(users.code, 0, users.stderr);
  t.false(/^alice\b/m.test(users.stdout), users.stdout);
  t.regex(users.stdout, /^ci\b/m);

  const text = await cli(['audit', '--repo', 'internal']);
  t.is(text.code, 0, text.stderr);
  t.false(text.stdout.includes('other-pkg'));
  const lines = text.stdout.trim().split('\n');
  t.is(lines.length, 7, text.stdout);
  const withAction = (action: string) => lines.filter((l) => l.includes(`  ${action}  internal  `));
  const uploads = withAction('upload');
  t.is(uploads.length, 3);
  for (const [i, d] of [w1, w2, s2].entries()) {
    t.regex(uploads[i]!, new RegExp(`^\\S+  alice \\(token ${id}\\) from \\S+  upload  internal  ${d.filename.replace(/\./g, '\\.')}  sha256 ${d.sha256}  \\[created\\]$`));
  }
  const cliLine = (action: string, d: BuiltDist) => new RegExp(`^\\S+  cli:\\S+  ${action}  internal  ${d.filename.replace(/\./g, '\\.')}  sha256 ${d.sha256}`);
  t.is(withAction('yank').length, 1);
  t.regex(withAction('yank')[0]!, cliLine('yank', w1));
  t.regex(withAction('yank')[0]!, /\[broken build\]$/);
  t.is(withAction('unyank').length, 1);
  t.regex(withAction('unyank')[0]!, cliLine('unyank', w1));
  const deletes = withAction('delete');
  t.is(deletes.length, 2);
  t.regex(deletes[0]!, cliLine('delete', w1));
  t.regex(deletes[1]!, cliLine('delete', w2));

  const json = await cli(['audit', '--repo', 'internal', '--since', '1d', '--json']);
  t.is(json.code, 0, json.stderr);
  const entries = JSON.parse(json.stdout) as Record<string, unknown>[];
  t.is(entries.length, 7);
  for (const e of entries) {
    t.deepEqual(Object.keys(e).sort(), ['action', 'actor', 'address', 'at', 'detail', 'filename', 'project', 'repo', 'sha256', 'tokenId', 'version']);
    t.is(e.repo, 'internal');
    t.is(e.project, 'acme-core');
  }
  t.deepEqual([...new Set(entries.map((e) => e.action))].sort(), ['delete', 'unyank', 'upload', 'yank']);
  t.like(entries[0], { actor: 'alice', tokenId: id, action: 'upload', version: '1.0', filename: w1.filename, sha256: w1.sha256, detail: 'created' });
  t.truthy(entries[0]!.address);
  for (const e of entries.filter((x) => x.action !== 'upload')) {
    t.regex(e.actor as string, /^cli:.+/);
    t.is(e.tokenId, null);
    t.is(e.address, null);
  }
  t.like(entries.find((e) => e.action === 'yank'), { detail: 'broken build', filename: w1.filename, sha256: w1.sha256 });
  t.like(entries.filter((e) => e.action === 'delete')[1], { version: '2.0', filename: w2.filename, sha256: w2.sha256 });

  const tomorrow = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);
  const future = await cli(['audit', '--repo', 'internal', '--since', tomorrow]);
  t.is(future.code, 0, future.stderr);
  t.is(future.stdout, 'No changes recorded.\n');
});
