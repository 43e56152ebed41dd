/**
 * The bare host as index-url (`index-url = http://depot:8080/`, as the Spark
 * documentation and many pip.conf files write it) and the canonical
 * `/simple/` both install with real pip.
 */
import test from 'ava';
import { describe, requireClient, venv } from '../helpers/clients.ts';
import { buildWheel } from '../helpers/dists.ts';
import { startTestServer } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';

test('pip installs with the bare host as index-url, and with /simple/', async (t) => {
  if (!(await requireClient(t, 'python3'))) return;
  const s = await startTestServer(t);
  const core = await buildWheel({ name: 'acme-core', version: '1.0' });
  const app = await buildWheel({ name: 'Acme.App', version: '2.0', requiresDist: ['acme-core>=1.0'] });
  t.is((await upload(`${s.url}/internal/`, core, 'acme-core', '1.0')).status, 200);
  t.is((await upload(`${s.url}/internal/`, app, 'Acme.App', '2.0')).status, 200);
  const v = await venv(t, 'python3');
  for (const index of [`${s.url}/`, `${s.url}/simple/`]) {
    const r = await v.pip(['install', '--index-url', index, '--no-input', '--progress-bar', 'off', '--force-reinstall', 'acme-app']);
    t.is(r.code, 0, `${index}: ${describe(r)}`);
    t.regex(r.stdout, /Successfully installed acme-app-2\.0 acme-core-1\.0/, index);
  }
});
