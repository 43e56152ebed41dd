/**
 * What credentials cost when many nodes read a protected index: the same
 * 2,000-file project page (JSON) from a local repository `private`
 * (`read: authenticated`), asked for with a user's password over Basic
 * (verified by scrypt once, then remembered) and with `__token__` and an API
 * token (looked up by sha256 on every request), against the same page from
 * a public local repository `public` of the same pydepot with no
 * credentials. The user and the token are put in the storage before the
 * server starts; every request sends them, as pip does. Pages are warm (and
 * the password verified) before load is measured, alternating sides (each
 * run led by a different one), median of RUNS.
 */
import { mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { hashPassword } from '../src/auth/passwords.ts';
import { newToken } from '../src/auth/tokens.ts';
import { TOKEN_USERNAME } from '../src/config/schema.ts';
import { openStorage } from '../src/storage/open.ts';
import { startChild, stopChild, type Child } from './children.ts';
import { ACCEPT, check, LOAD, median, settle } from './helpers.ts';
import { measurePage, type PageResult } from './load.ts';
import { PAGE_PROJECT, uploadPageProject, type PageProject } from './page-project.ts';
import type { AddRow, ScenarioContext } from './report.ts';
import { sampleRss } from './transfer.ts';

const RUNS = 3;
const RATIO = 0.9;
const USER = 'reader';
const PASSWORD = 'bench-reader-password';
const SIDES = ['password', 'token', 'public'] as const;
type Side = (typeof SIDES)[number];

export type AuthContext = ScenarioContext;

/** pydepot's repositories beside the default `bench`: see the file comment. */
const REPOS = {
  private: { type: 'local', read: 'authenticated', upload: 'anonymous' },
  public: { type: 'local', read: 'anonymous', upload: 'anonymous' },
};

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

/** A GET with these headers: the status, the Cache-Control answered, and the body. */
function get(url: string, headers: Record<string, string>): Promise<{ status: number; cacheControl: string | undefined; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, cacheControl: res.headers['cache-control'], body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

export async function authScenarios(ctx: AuthContext): Promise<void> {
  const { work, row, details } = ctx;
  const dir = join(work, 'auth');
  const storage = join(dir, 'storage');
  await mkdir(dir, { recursive: true });
  const project = await ctx.pageProject();

  // The account and a read-only token for `private`, as `pydepot user add` / `token create` would leave them.
  const token = newToken();
  const accounts = await openStorage(storage);
  try {
    const now = new Date().toISOString();
    await accounts.users.addUser(USER, await hashPassword(PASSWORD), now);
    await accounts.users.addToken({
      id: token.id, hash: token.hash, user: USER, repos: ['private'], scope: 'read', description: 'bench',
      createdAt: now, expiresAt: null, revokedAt: null, lastUsedAt: null,
    });
  } finally {
    await accounts.store.close();
  }

  let pydepot: Child | null = null;
  try {
    pydepot = await startChild('bench/server-child.mjs', [storage, '--repos', JSON.stringify(REPOS)]);
    const p = pydepot;

    settle();
    const uploadSeconds = {
      private: await uploadPageProject(p.url, 'private', project),
      public: await uploadPageProject(p.url, 'public', project),
    };
    console.log(`uploaded ${project.dists.length} wheels to 'private' in ${uploadSeconds.private.toFixed(1)} s, to 'public' in ${uploadSeconds.public.toFixed(1)} s`);

    const page = (repo: string): string => `${p.url}/${repo}/simple/${PAGE_PROJECT}/`;
    const urls: Record<Side, string> = { password: page('private'), token: page('private'), public: page('public') };
    const headers: Record<Side, Record<string, string>> = {
      password: { Accept: ACCEPT.json, Authorization: basic(USER, PASSWORD) },
      token: { Accept: ACCEPT.json, Authorization: basic(TOKEN_USERNAME, token.text) },
      public: { Accept: ACCEPT.json },
    };

    // The protected page needs credentials; with them, it lists the same 2,000 files as the public one.
    const refused = await get(urls.password, { Accept: ACCEPT.json });
    check(refused.status === 401, `'private' without credentials answered ${refused.status}, expected 401`);
    const sizes = {} as Record<Side, number>;
    const cacheControl = {} as Record<Side, string | undefined>;
    const names = {} as Record<Side, string>;
    let firstPasswordMs = 0;
    for (const side of SIDES) {
      const t0 = performance.now();
      const pg = await get(urls[side], headers[side]);
      if (side === 'password') firstPasswordMs = performance.now() - t0;
      check(pg.status === 200, `${side} page answered ${pg.status}: ${pg.body.toString('utf8').slice(0, 200)}`);
      const files = (JSON.parse(pg.body.toString('utf8')) as { files: Array<{ filename: string }> }).files;
      check(files.length === ctx.pageFiles, `${side} page lists ${files.length} files, expected ${ctx.pageFiles}`);
      names[side] = JSON.stringify(files.map((f) => f.filename).sort());
      sizes[side] = pg.body.length;
      cacheControl[side] = pg.cacheControl;
    }
    check(names.password === names.public && names.token === names.public, 'the protected and the public page list the same files');
    console.log(`'private' without credentials: 401; first password request ${firstPasswordMs.toFixed(0)} ms (scrypt); `
      + `Cache-Control: private ${JSON.stringify(cacheControl.password)}, public ${JSON.stringify(cacheControl.public)}`);

    const rps = { password: [], token: [], public: [] } as Record<Side, number[]>;
    const cpu = { password: [], token: [], public: [] } as Record<Side, number[]>;
    const load = { password: [], token: [], public: [] } as Record<Side, PageResult[]>;
    for (let i = 0; i < RUNS; i++) {
      // Each run starts with a different side, so none always follows the same one.
      for (const side of [...SIDES.slice(i % SIDES.length), ...SIDES.slice(0, i % SIDES.length)]) {
        settle();
        const r = await measurePage({ url: urls[side], headers: headers[side], expectBytes: sizes[side], ...LOAD }, p.pid);
        check(r.ok > 0 && r.failed === 0, `${side} page load: ${r.failed} failed (${r.firstError ?? 'none ok'})`);
        console.log(`json page #${i + 1} ${side.padEnd(8)} ${r.rps.toFixed(0).padStart(6)} req/s (${(sizes[side] / 1024).toFixed(0)} KiB); `
          + `CPU per request: server ${r.serverUsPerRequest.toFixed(0)} µs, client ${r.clientUsPerRequest.toFixed(0)} µs`);
        rps[side].push(r.rps);
        cpu[side].push(r.serverUsPerRequest);
        load[side].push(r);
      }
    }
    const base = median(rps.public);
    const label: Record<Exclude<Side, 'public'>, string> = { password: 'Basic user+password (cached)', token: '__token__ + API token' };
    for (const side of ['password', 'token'] as const) {
      const v = median(rps[side]);
      row(`protected project page (${ctx.pageFiles} files) JSON, ${label[side]}, req/s (median of ${RUNS}; baseline: public repo, no credentials)`,
        v, base, `ratio >= ${RATIO}`, v / base >= RATIO);
    }
    for (const side of ['password', 'token'] as const) {
      row(`  ${side} vs public JSON page: server CPU per request, µs`, median(cpu[side]), median(cpu.public), '(report only)', null);
    }

    details.auth = {
      files: ctx.pageFiles,
      repositories: REPOS,
      bytes: sizes,
      cacheControl,
      firstPasswordRequestMs: firstPasswordMs,
      uploadSeconds,
      rps,
      serverUsPerRequest: cpu,
      load,
      loadOptions: LOAD,
      runs: RUNS,
      pydepotRssAfterBytes: sampleRss(p.pid).stop(),
    };
  } finally {
    if (pydepot) await stopChild(pydepot.proc);
    await rm(dir, { recursive: true, force: true });
  }
}
