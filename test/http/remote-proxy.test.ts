/**
 * Upstream requests go through the proxy named by HTTP(S)_PROXY, except for
 * hosts in NO_PROXY. Its own file: the environment is per process.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { buildWheel } from '../helpers/dists.ts';
import { FakeUpstream } from '../helpers/fake-upstream.ts';
import { startTestServer } from '../helpers/server.ts';

/** A forward proxy that tunnels CONNECT and counts the tunnels. */
async function startProxy(t: ExecutionContext): Promise<{ url: string; tunnels: string[] }> {
  const tunnels: string[] = [];
  const proxy = createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req, client, head) => {
    tunnels.push(req.url!);
    const [host, port] = req.url!.split(':');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  t.teardown(() => { proxy.closeAllConnections(); proxy.close(); });
  return { url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, tunnels };
}

test.serial('upstream requests go through HTTP_PROXY, and NO_PROXY hosts bypass it', async (t) => {
  const up = await FakeUpstream.start(t);
  up.addProject('requests', [{ dist: await buildWheel({ name: 'requests', version: '1.0' }) }]);
  const proxy = await startProxy(t);
  const saved = { ...process.env };
  t.teardown(() => { process.env = saved; });

  process.env.HTTP_PROXY = proxy.url;
  process.env.NO_PROXY = '';
  const via = await startTestServer(t, { repositories: { pypi: { type: 'remote', url: up.url } } });
  t.is((await fetch(`${via.url}/pypi/simple/requests/`)).status, 200);
  t.is(proxy.tunnels.length, 1);
  t.is(proxy.tunnels[0], new URL(up.url).host);

  process.env.NO_PROXY = '127.0.0.1';
  const direct = await startTestServer(t, { repositories: { pypi: { type: 'remote', url: up.url } } });
  t.is((await fetch(`${direct.url}/pypi/simple/requests/`)).status, 200);
  t.is(proxy.tunnels.length, 1);
  t.is(up.count('/simple/requests/'), 2);
});
