/**
 * The crash matrix: pydepot runs as a child process with
 * PYDEPOT_CRASH_AT=<step> (src/crash-points.ts), is driven until it kills
 * itself with SIGKILL at that step, and is restarted on the same storage
 * without it. After the restart:
 * - the index shows the complete old state or the complete new state, as the
 *   step decides: never a row without its blob, never a file URL answering 200
 *   with other bytes than its sha256 says;
 * - <storage>/tmp is empty (the start removes what the crash left there);
 * - the next request (the same upload again, the same download, the page) is
 *   answered correctly.
 * One test per step, from the table below.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import type { CrashStep } from '../../src/crash-points.ts';
import { MIGRATIONS } from '../../src/storage/migrations.ts';
import { deadline, launch, startChild, writeConfig } from '../helpers/child-server.ts';
import { CI } from '../helpers/ci-user.ts';
import { buildWheel } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { seedCi, startTestServer, tempDir } from '../helpers/server.ts';
import { storageCounts } from '../helpers/storage.ts';
import { pinEmbedded } from '../helpers/test-backend.ts';
import { upload } from '../helpers/upload.ts';

const JSON_ACCEPT = 'application/vnd.pypi.simple.v1+json';
const CRASH_DEADLINE_MS = 30_000;
const LATEST = MIGRATIONS.at(-1)!.version;

type JsonPage = { files: { filename: string; url: string; hashes: { sha256: string } }[] };

interface Env {
  t: ExecutionContext;
  storage: string;
  config: string;
  up: FakeUpstream;
}

interface Step {
  step: CrashStep;
  title: string;
  /** Storage and upstream as they were before the crashing run. */
  before(env: Env): Promise<void>;
  /** Drives the crashing server (null: it crashes while starting) until it dies. */
  crash(env: Env, url: string | null): Promise<void>;
  /** What the crash left on disk, before the restart cleans up. */
  left(env: Env): Promise<void>;
  /** After the restart: the state is whole, and the next request is right. */
  after(env: Env, url: string): Promise<void>;
}

// --- the scenarios ---------------------------------------------------------

const oldWheel = buildWheel({ name: 'acme-crash', version: '1.0' });
const newWheel = buildWheel({ name: 'acme-crash', version: '1.1', padBytes: 64 * 1024 });
const bigWheel = buildWheel({ name: 'acme-big', version: '1.0', padBytes: 512 * 1024 });
const pageV1 = buildWheel({ name: 'acme-page', version: '1.0' });
const pageV2 = buildWheel({ name: 'acme-page', version: '2.0' });

const CONFIG = (up: FakeUpstream) => ({
  repositories: {
    internal: { type: 'local', upload: [CI.user] },
    // indexTtl 0: every page request revalidates.
    pypi: { type: 'remote', url: up.url, indexTtl: 0 },
  },
  defaultRepository: 'internal',
});

/** The storage as a server that has already accepted acme-crash 1.0 leaves it. */
async function withOldUpload(env: Env): Promise<void> {
  const s = await startTestServer(env.t, CONFIG(env.up), env.storage);
  env.t.is((await upload(`${s.url}/internal/`, await oldWheel, 'acme-crash', '1.0')).status, 200);
  await s.stop(1000);
}

async function uploadNew(_env: Env, url: string | null): Promise<void> {
  await expectCut(upload(`${url}/internal/`, await newWheel, 'acme-crash', '1.1'), 'the upload');
}

/** Old state: 1.0 only, 1.1's URL is 404. New state: both, 1.1's URL gives its bytes. */
async function showsUploadState(t: ExecutionContext, url: string, state: 'old' | 'new'): Promise<void> {
  const [v10, v11] = [await oldWheel, await newWheel];
  const page = await jsonPage(`${url}/internal/simple/acme-crash/`);
  t.deepEqual(page.files.map((f) => f.filename), state === 'old' ? [v10.filename] : [v10.filename, v11.filename]);
  const res = await fetch(`${url}/internal/files/${v11.sha256}/${v11.filename}`);
  if (state === 'old') {
    t.is(res.status, 404);
    await res.arrayBuffer();
  } else {
    t.is(res.status, 200);
    t.is(sha256(Buffer.from(await res.arrayBuffer())), v11.sha256);
  }
}

/** The index is in `state`; the same upload again is then accepted (created, or identical) and wholly visible. */
async function expectUploadState({ t }: Env, url: string, state: 'old' | 'new'): Promise<void> {
  await showsUploadState(t, url, state);
  const again = await upload(`${url}/internal/`, await newWheel, 'acme-crash', '1.1');
  t.is(again.status, 200, again.statusText);
  t.regex(await again.text(), state === 'old' ? /^$/ : /identical content/);
  await showsUploadState(t, url, 'new');
}

async function withCachedPage(env: Env): Promise<void> {
  env.up.addProject('acme-page', [{ dist: await pageV1 }]);
  const s = await startTestServer(env.t, CONFIG(env.up), env.storage);
  const page = await jsonPage(`${s.url}/pypi/simple/acme-page/`);
  env.t.deepEqual(page.files.map((f) => f.filename), [(await pageV1).filename]);
  await s.stop(1000);
  // Upstream publishes 2.0: the crashing run fetches the new page.
  env.up.addProject('acme-page', [{ dist: await pageV1 }, { dist: await pageV2 }]);
}

/** Filenames of the stored copy of an upstream page and of the file rows saved with it. */
function storedPage(storage: string, project: string): { page: string[]; rows: string[] } {
  const db = new Database(join(storage, 'pydepot.db'), { readonly: true });
  try {
    const body = db.prepare('SELECT page FROM remote_pages WHERE project = ?').pluck().get(project) as string;
    const rows = db.prepare('SELECT filename FROM remote_files WHERE project = ? ORDER BY filename').pluck().all(project) as string[];
    return { page: (JSON.parse(body) as { files: { filename: string }[] }).files.map((f) => f.filename), rows };
  } finally {
    db.close();
  }
}

function schema(storage: string): { version: number; tables: string[] } {
  const db = new Database(join(storage, 'pydepot.db'), { readonly: true });
  try {
    return {
      version: db.pragma('user_version', { simple: true }) as number,
      tables: db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[],
    };
  } finally {
    db.close();
  }
}

async function migratedAndUsable(env: Env, url: string): Promise<void> {
  const { t } = env;
  t.is(schema(env.storage).version, LATEST);
  // The users table exists only now: the uploader is added to the running server's storage.
  await seedCi(env.storage);
  const wheel = await oldWheel;
  t.is((await upload(`${url}/internal/`, wheel, 'acme-crash', '1.0')).status, 200);
  t.deepEqual((await jsonPage(`${url}/internal/simple/acme-crash/`)).files.map((f) => f.filename), [wheel.filename]);
}

const STEPS: Step[] = [
  {
    step: 'upload:temp-complete',
    title: 'an upload killed before its blob is committed leaves the old index, its temp file is removed at start, and the upload succeeds again',
    before: withOldUpload,
    crash: uploadNew,
    left: async ({ t, storage }) => {
      t.true((await storageCounts(storage)).tmp >= 1, 'the complete temp file was left behind');
      t.false(blobExists(storage, (await newWheel).sha256));
    },
    after: (env, url) => expectUploadState(env, url, 'old'),
  },
  {
    step: 'upload:blob-committed',
    title: 'an upload killed between the blob commit and the transaction leaves the old index; the same upload then succeeds',
    before: withOldUpload,
    crash: uploadNew,
    left: async ({ t, storage }) => {
      // A blob no row names: invisible, and reused by the next upload of these bytes.
      t.true(blobExists(storage, (await newWheel).sha256));
      t.is(fileRows(storage).length, 1);
    },
    after: (env, url) => expectUploadState(env, url, 'old'),
  },
  {
    step: 'upload:row-committed',
    title: 'an upload killed after its transaction, before the answer, is wholly there; the retried upload is identical',
    before: withOldUpload,
    crash: uploadNew,
    left: async ({ t, storage }) => {
      t.is(fileRows(storage).length, 2);
    },
    after: (env, url) => expectUploadState(env, url, 'new'),
  },
  {
    step: 'download:half-written',
    title: 'a proxied download killed halfway leaves no blob and no temp file; the download then succeeds with the right bytes',
    before: async ({ up }) => {
      const wheel = await bigWheel;
      up.addProject('acme-big', [{ dist: wheel }]);
      // Paced, so that the client is sent the first chunks before the crash.
      up.fileFaults(wheel.filename, { bytesPerSecond: 2 * 1024 * 1024 });
    },
    crash: async ({ t }, url) => {
      const wheel = await bigWheel;
      const page = await jsonPage(`${url}/pypi/simple/acme-big/`);
      const fileUrl = new URL(page.files[0]!.url, `${url}/pypi/simple/acme-big/`).href;
      const got = fetch(fileUrl).then(async (res) => {
        t.is(res.status, 200);
        return Buffer.from(await res.arrayBuffer());
      });
      await expectCut(got, `the download of ${wheel.filename}`);
    },
    left: async ({ t, storage }) => {
      t.true((await storageCounts(storage)).tmp >= 1, 'the partial temp file was left behind');
      t.false(blobExists(storage, (await bigWheel).sha256));
    },
    after: async ({ t, storage, up }, url) => {
      const wheel = await bigWheel;
      t.false(blobExists(storage, wheel.sha256));
      up.fileFaults(wheel.filename, {});
      const res = await fetch(`${url}/pypi/files/${wheel.sha256}/${wheel.filename}`);
      t.is(res.status, 200);
      t.is(sha256(Buffer.from(await res.arrayBuffer())), wheel.sha256);
      t.true(blobExists(storage, wheel.sha256));
    },
  },
  {
    step: 'page:fetched-not-saved',
    title: 'a revalidation killed before its page is saved keeps the old page and its file rows; the next request gets the new page',
    before: withCachedPage,
    crash: async (_env, url) => {
      await expectCut(fetch(`${url}/pypi/simple/acme-page/`, { headers: { Accept: JSON_ACCEPT } }), 'the page revalidation');
    },
    left: async ({ t, storage }) => {
      const v1 = (await pageV1).filename;
      t.deepEqual(storedPage(storage, 'acme-page'), { page: [v1], rows: [v1] });
    },
    after: async ({ t, storage }, url) => {
      const [v1, v2] = [await pageV1, await pageV2];
      const page = await jsonPage(`${url}/pypi/simple/acme-page/`);
      t.deepEqual(page.files.map((f) => f.filename), [v1.filename, v2.filename]);
      t.deepEqual(storedPage(storage, 'acme-page'), { page: [v1.filename, v2.filename], rows: [v1.filename, v2.filename] });
      const res = await fetch(new URL(page.files[1]!.url, `${url}/pypi/simple/acme-page/`));
      t.is(res.status, 200);
      t.is(sha256(Buffer.from(await res.arrayBuffer())), v2.sha256);
    },
  },
  {
    step: 'migration:inside-step',
    title: 'a start killed inside a migration leaves the schema before it; the next start migrates and serves',
    before: async () => undefined,
    crash: async () => undefined,
    left: async ({ t, storage }) => {
      t.deepEqual(schema(storage), { version: 0, tables: [] });
    },
    after: migratedAndUsable,
  },
  {
    step: 'migration:between-steps',
    title: 'a start killed between two migrations keeps the first; the next start runs the rest and serves',
    before: async () => undefined,
    crash: async () => undefined,
    left: async ({ t, storage }) => {
      const s = schema(storage);
      t.is(s.version, 1);
      t.true(s.tables.includes('files'));
      t.false(s.tables.includes('remote_pages'));
    },
    after: migratedAndUsable,
  },
];

for (const s of STEPS) {
  test(`crash at ${s.step}: ${s.title}`, async (t) => {
    const up = await FakeUpstream.start(t);
    // Embedded only: the matrix's steps and checks are about the SQLite file and the blob folder on disk.
    const storage = pinEmbedded(await tempDir(t, 'pydepot-crash-'));
    const env: Env = { t, storage, up, config: await writeConfig(await tempDir(t), CONFIG(up)) };
    const startsMigrating = s.step.startsWith('migration:');
    // The uploader: seeding runs the migrations, which the migration steps must do themselves.
    if (!startsMigrating) await seedCi(storage);
    await s.before(env);

    const crashing = launch(t, { config: env.config, storage, env: { PYDEPOT_CRASH_AT: s.step } });
    const url = startsMigrating ? null : await crashing.listening;
    await s.crash(env, url);
    const exit = await deadline(crashing.exited, CRASH_DEADLINE_MS, `the server to die at ${s.step}`);
    t.deepEqual(exit, { code: null, signal: 'SIGKILL' }, crashing.output());
    await s.left(env);

    const { server, url: again } = await startChild(t, { config: env.config, storage });
    t.is((await storageCounts(storage)).tmp, 0, 'tmp/ is emptied at start');
    await s.after(env, again);
    await consistent(t, storage, again);
    t.deepEqual(await server.stop(), { code: 0, signal: null }, server.output());
  });
}

// --- checks -----------------------------------------------------------------

/**
 * The invariant after any crash: every file row has its blob, holding the
 * bytes its sha256 names, and every file a hosted page lists downloads as
 * exactly those bytes. tmp/ is empty.
 */
async function consistent(t: ExecutionContext, storage: string, url: string): Promise<void> {
  for (const row of fileRows(storage)) {
    const path = blobPath(storage, row.sha256);
    t.true(existsSync(path), `the blob of ${row.filename}`);
    t.is(sha256(readFileSync(path)), row.sha256, `the bytes of ${row.filename}`);
  }
  const root = (await (await fetch(`${url}/internal/simple/`, { headers: { Accept: JSON_ACCEPT } })).json()) as { projects: { name: string }[] };
  for (const { name } of root.projects) {
    const pageUrl = `${url}/internal/simple/${name}/`;
    for (const f of (await jsonPage(pageUrl)).files) {
      const res = await fetch(new URL(f.url, pageUrl));
      t.is(res.status, 200, f.filename);
      t.is(sha256(Buffer.from(await res.arrayBuffer())), f.hashes.sha256, f.filename);
    }
  }
  t.is((await storageCounts(storage)).tmp, 0);
}

/** The request must fail: the server died before answering it (or mid-answer). */
async function expectCut(request: Promise<unknown>, what: string): Promise<void> {
  const outcome = await deadline(request.then(() => 'answered', () => 'cut'), CRASH_DEADLINE_MS, what);
  if (outcome !== 'cut') throw new Error(`${what} was answered in full: the crash point was not reached`);
}

async function jsonPage(url: string): Promise<JsonPage> {
  const res = await fetch(url, { headers: { Accept: JSON_ACCEPT } });
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${res.statusText}`);
  return (await res.json()) as JsonPage;
}

function fileRows(storage: string): { filename: string; sha256: string }[] {
  const db = new Database(join(storage, 'pydepot.db'), { readonly: true });
  try {
    return db.prepare('SELECT filename, sha256 FROM files ORDER BY filename').all() as { filename: string; sha256: string }[];
  } finally {
    db.close();
  }
}

function blobPath(storage: string, sha: string): string {
  return join(storage, 'blobs', 'sha256', sha.slice(0, 2), sha.slice(2, 4), sha);
}

function blobExists(storage: string, sha: string): boolean {
  return existsSync(blobPath(storage, sha));
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
