/**
 * `npm test` starts with test/preflight.ts: on a machine without twine and
 * poetry it stops at once with one message listing what to install, or, with
 * PYDEPOT_OPTIONAL_CLIENTS=1, says what it skips and goes on.
 */
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { describe, run, type RunResult } from '../helpers/clients.ts';
import { REPO_ROOT } from '../helpers/child-server.ts';
import { python } from '../helpers/python-oracle.ts';
import { tempDir } from '../helpers/server.ts';

/** A PATH holding only `programs` (symlinks to the real ones). */
async function pathWith(t: ExecutionContext, programs: Record<string, string>): Promise<string> {
  const dir = await tempDir(t, 'pydepot-path-');
  for (const [name, target] of Object.entries(programs)) await symlink(target, join(dir, name));
  return dir;
}

function preflight(path: string, optional: boolean): Promise<RunResult> {
  return run(process.execPath, ['--import', 'tsx', 'test/preflight.ts'], {
    cwd: REPO_ROOT, env: { PATH: path, PYDEPOT_OPTIONAL_CLIENTS: optional ? '1' : '0' }, timeoutMs: 120_000,
  });
}

test('without twine and poetry: one message listing both with their install commands, exit 1; the switch skips them, announced', async (t) => {
  const python3 = (await python('python3', 'import sys; print(sys.executable)')).stdout.trim();
  // chromium present (the browser tests' own case is the same code): only twine and poetry are missing.
  const path = await pathWith(t, { python3, openssl: '/usr/bin/openssl', chromium: '/usr/bin/chromium' });
  const r = await preflight(path, false);
  t.is(r.code, 1, describe(r));
  t.regex(r.stderr, /^npm test: this machine lacks programs the tests need:$/m);
  t.regex(r.stderr, /^ {2}- twine: apt-get install -y twine$/m);
  t.regex(r.stderr, /^ {2}- poetry: apt-get install -y python3-poetry$/m);
  t.regex(r.stderr, /set PYDEPOT_OPTIONAL_CLIENTS=1 to run without the end-to-end tests that need twine, poetry/);
  t.notRegex(r.stderr, /venv|pip in/, 'what is installed is not listed');

  const skipping = await preflight(path, true);
  t.is(skipping.code, 0, describe(skipping));
  t.regex(skipping.stderr, /PYDEPOT_OPTIONAL_CLIENTS=1: the end-to-end tests that need twine, poetry are SKIPPED/);
});

test('openssl is needed whatever the switch says', async (t) => {
  const python3 = (await python('python3', 'import sys; print(sys.executable)')).stdout.trim();
  const path = await pathWith(t, { python3, twine: '/usr/bin/twine', poetry: '/usr/bin/poetry' });
  const r = await preflight(path, true);
  t.is(r.code, 1, describe(r));
  t.regex(r.stderr, /^ {2}- openssl: apt-get install -y openssl$/m);
  t.regex(r.stderr, /openssl cannot be skipped/);
});
