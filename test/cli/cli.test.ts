/**
 * The commands in-process (test/helpers/cli.ts), and the one run of the real
 * binary: `serve` in a child process, stopped by SIGTERM.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import test from 'ava';
import { pydepot } from '../helpers/cli.ts';
import { buildWheel } from '../helpers/dists.ts';
import { startTestServer, tempDir } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';
import { backendArgs } from '../helpers/test-backend.ts';

/** The real binary, from the repository root (ava's working directory). */
const PYDEPOT = ['--import', 'tsx', 'src/main.ts'];

test('serve refuses a bad config at start-up and names the key', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'bad.yaml');
  await writeFile(file, 'repositories:\n  internal:\n    type: local\n    maxFileSize: huge\n');
  const r = await pydepot(['serve', '--config', file, '--storage', dir]);
  t.is(r.code, 78);
  t.regex(r.stderr, /config key 'repositories\.internal\.maxFileSize'/);
});

test('yank and unyank change what the index says, while the server runs', async (t) => {
  const s = await startTestServer(t);
  const dir = await tempDir(t);
  const config = join(dir, 'c.yaml');
  await writeFile(config, 'repositories:\n  internal:\n    type: local\n');
  const wheel = await buildWheel({ name: 'acme-core', version: '2.0' });
  t.is((await upload(`${s.url}/internal/`, wheel, 'acme-core', '2.0')).status, 200);

  const y = await pydepot(['yank', 'internal', 'Acme_Core', '2.0.0', '--reason', 'broken build', '--config', config, '--storage', s.storage]);
  t.is(y.code, 0, y.stderr);
  t.regex(y.stdout, /yanked acme-core 2\.0\.0 in internal \(1 file\)/);
  const html = await (await fetch(`${s.url}/internal/simple/acme-core/`)).text();
  t.true(html.includes('data-yanked="broken build"'));
  const json = (await (await fetch(`${s.url}/internal/simple/acme-core/`, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } })).json()) as { files: { yanked: unknown }[] };
  t.is(json.files[0]!.yanked, 'broken build');

  const u = await pydepot(['unyank', 'internal', 'acme-core', '2.0', '--config', config, '--storage', s.storage]);
  t.is(u.code, 0, u.stderr);
  t.false((await (await fetch(`${s.url}/internal/simple/acme-core/`)).text()).includes('data-yanked'));

  const missing = await pydepot(['yank', 'internal', 'acme-core', '9.9', '--config', config, '--storage', s.storage]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /acme-core 9\.9 is not in repository 'internal'/);
});

test('help goes to stdout with exit 0; a usage error to stderr with exit 1 and the usage, nothing run', async (t) => {
  const help = await pydepot(['--help']);
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /^Usage: pydepot \[options\] \[command\]$/m);
  t.regex(help.stdout, /^ {2}confusion +dependency confusion/m);
  t.is(help.stderr, '');

  const missing = await pydepot(['user', 'add']);
  t.is(missing.code, 1);
  t.is(missing.stdout, '');
  t.regex(missing.stderr, /^error: missing required argument 'name'$/m);
  t.regex(missing.stderr, /^Usage: pydepot user add \[options\] <name>$/m, 'the usage follows the error');
  t.false(missing.stderr.includes('pydepot: '), 'commander printed the error; nothing is added');

  const unknown = await pydepot(['nosuch']);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /^error: unknown command 'nosuch'$/m);
});

test('serve answers on the address given, and SIGTERM stops it cleanly', async (t) => {
  const dir = await tempDir(t);
  // backendArgs: on PYDEPOT_TEST_BACKEND's back end (the default config plus the folder's database and blobs).
  const args = await backendArgs(['serve', '--listen', '127.0.0.1:0', '--storage', dir]);
  const child = spawn(process.execPath, [...PYDEPOT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', () => reject(new Error(`exited early: ${out}`)));
  });
  t.is((await fetch(`${url}/-/ready`)).status, 200);
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number];
  t.is(code, 0);
  t.regex(out, /pydepot stopped/);
});
