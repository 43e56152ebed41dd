import test from 'ava';
import { Agent, fetch as undiciFetch } from 'undici';
import { buildWheel } from '../helpers/dists.ts';
import { startTestServer } from '../helpers/server.ts';
import { upload } from '../helpers/upload.ts';

test('health, readiness and Prometheus metrics', async (t) => {
  const s = await startTestServer(t);
  t.deepEqual(await (await fetch(`${s.url}/-/health`)).json(), { status: 'ok' });
  const ready = await fetch(`${s.url}/-/ready`);
  t.is(ready.status, 200);
  t.deepEqual(await ready.json(), { status: 'ready', checks: { database: 'ok', storage: 'ok' } });
  await upload(`${s.url}/internal/`, await buildWheel({ name: 'm', version: '1' }), 'm', '1');
  const metrics = await (await fetch(`${s.url}/-/metrics`)).text();
  t.regex(metrics, /pydepot_uploads_total\{repo="internal",outcome="created"\} 1/);
  t.regex(metrics, /pydepot_http_requests_total\{method="GET",route="\/-\/health",status="200"\} 1/);
});

test('one structured log line per request with method, path, status, bytes and duration', async (t) => {
  const s = await startTestServer(t);
  await fetch(`${s.url}/internal/simple/nothing-here/?token=secret`, { headers: { Authorization: 'Basic c2VjcmV0OnNlY3JldA==' } });
  const line = s.logs.find((l) => l.path === '/internal/simple/nothing-here/');
  t.truthy(line);
  t.is(line!.method, 'GET');
  t.is(line!.status, 401, 'credentials that do not verify');
  t.true((line!.bytes as number) > 0);
  t.is(typeof line!.durationMs, 'number');
  t.false(JSON.stringify(s.logs).includes('secret'));
  t.false(JSON.stringify(s.logs).includes('c2VjcmV0'));
});

test('stopping lets a download in flight finish', async (t) => {
  const s = await startTestServer(t);
  const wheel = await buildWheel({ name: 'big', version: '1', padBytes: 4 * 1024 * 1024 });
  await upload(`${s.url}/internal/`, wheel, 'big', '1');
  // A client of its own, closed once it has the body (as a client process exits):
  // the server's stop then ends with its last connection, not with the 10 s grace.
  const client = new Agent();
  t.teardown(() => client.destroy());
  const res = await undiciFetch(`${s.url}/internal/files/${wheel.sha256}/${wheel.filename}`, { dispatcher: client });
  const stopped = s.stop(10_000);
  const body = Buffer.from(await res.arrayBuffer());
  await client.close();
  await stopped;
  t.true(body.equals(wheel.bytes));
  await t.throwsAsync(fetch(`${s.url}/-/health`));
});
